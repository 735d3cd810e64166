/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * kpr_maps.h: every map and every key/value struct shared between kpr's BPF programs and the
 * TypeScript loader (src/dataplanes/ebpf/codecs.ts). This header is the single source of truth
 * for the layouts; the loader compares its codecs against the BTF of the built object at start,
 * so a change here without the matching TypeScript change is a startup error, not corruption.
 *
 * Byte order: addresses and ports are stored in network order (as the socket hooks see them in
 * struct bpf_sock_addr); counts, slots and flags in host order.
 */
#ifndef KPR_MAPS_H
#define KPR_MAPS_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Default capacities; the loader overrides max_entries before load (bpf_map__set_max_entries). */
#define KPR_SERVICES_MAX (1 << 20) /* entries: one per frontend, plus one per 16 backends beyond 16 */
#define KPR_REVNAT_MAX (1 << 18)

/* Backends stored in one kpr_services entry (a power of two: the BPF side masks with it). */
#define KPR_SLOT_BACKENDS 16

/* Owner of a frontend, "ns/name:port/PROTO", NUL-padded: 148 bytes is the longest valid one. */
#define KPR_SVC_NAME_LEN 160

/* kpr_svc_value.flags */
#define KPR_SVC_F_EXTERNAL_IP (1 << 0) /* frontend is an externalIP, not a clusterIP */
#define KPR_SVC_F_LOCAL (1 << 1)       /* internalTrafficPolicy=Local: only local endpoints */

/*
 * Key of kpr_services. Slot 0 is a frontend's master entry; slot n >= 1 is an overflow entry
 * holding backends n*16 .. n*16+15, present only for frontends with more than 16 backends.
 */
struct kpr_svc_key {
	__be32 vip;   /* frontend IPv4 address (clusterIP or externalIP) */
	__be16 dport; /* frontend port */
	__u8 proto;   /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad1;    /* always 0 */
	__u16 slot;   /* 0 = master entry, n = overflow entry n */
	__u16 pad2;   /* always 0 */
};

/* One backend address, stored inline in kpr_svc_value (no separate backends map, no ids). */
struct kpr_backend {
	__be32 ip;   /* backend IPv4 address */
	__be16 port; /* backend port */
	__u16 pad;   /* always 0 */
};

/*
 * Value of kpr_services. A master entry carries the frontend's backend count, flags, owner name
 * and its first 16 backends, so a frontend with <= 16 backends is one map entry and a full sync
 * writes one entry per frontend. Overflow entries use only `backends`; the rest is zero.
 * Positions at or beyond the frontend's count are zero.
 */
struct kpr_svc_value {
	__u16 count; /* master: number of backends; 0 = refuse connections */
	__u16 flags; /* master: KPR_SVC_F_* */
	__u32 pad;   /* always 0 */
	struct kpr_backend backends[KPR_SLOT_BACKENDS];
	char name[KPR_SVC_NAME_LEN]; /* master: owning service port, for `kpr service list` */
};

/* Key of kpr_revnat: which backend a socket was sent to by connect4/sendmsg4. */
struct kpr_revnat_key {
	__u64 cookie; /* socket cookie (bpf_get_socket_cookie) */
	__be32 ip;    /* backend IPv4 address */
	__be16 port;  /* backend port */
	__u16 pad;    /* always 0 */
};

/* Value of kpr_revnat: the frontend recvmsg4/getpeername4 report instead of the backend. */
struct kpr_revnat_value {
	__be32 vip;   /* frontend IPv4 address */
	__be16 dport; /* frontend port */
	__u16 pad;    /* always 0 */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* memory follows the service count, not the capacity */
	__uint(max_entries, KPR_SERVICES_MAX);
	__type(key, struct kpr_svc_key);
	__type(value, struct kpr_svc_value);
} kpr_services SEC(".maps");

/* LRU: entries of closed sockets age out on their own; LRU maps cannot be NO_PREALLOC. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, KPR_REVNAT_MAX);
	__type(key, struct kpr_revnat_key);
	__type(value, struct kpr_revnat_value);
} kpr_revnat SEC(".maps");

#endif /* KPR_MAPS_H */
