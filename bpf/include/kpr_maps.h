/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * kpr_maps.h: every map and every key/value struct shared between kpr's BPF programs and the
 * TypeScript loader (src/dataplanes/ebpf/codecs.ts). This header is the single source of truth
 * for the layouts; the loader compares its codecs against the BTF of the built object at start,
 * so a change here without the matching TypeScript change is a startup error, not corruption.
 *
 * Byte order: addresses and ports are stored in network order (as the socket hooks see them in
 * struct bpf_sock_addr); ids, counts, slots and flags in host order.
 */
#ifndef KPR_MAPS_H
#define KPR_MAPS_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Default capacities; the loader overrides max_entries before load (bpf_map__set_max_entries). */
#define KPR_SERVICES_MAX (1 << 21) /* 100k services x (10 slots + master) fits with headroom */
#define KPR_BACKENDS_MAX (1 << 21)
#define KPR_SVC_NAMES_MAX (1 << 18)
#define KPR_REVNAT_MAX (1 << 18)

/* Name of a service port, "ns/name:port/PROTO", NUL-padded. */
#define KPR_SVC_NAME_LEN 128

/* kpr_svc_value.flags */
#define KPR_SVC_F_EXTERNAL_IP (1 << 0) /* frontend is an externalIP, not a clusterIP */
#define KPR_SVC_F_LOCAL (1 << 1)       /* internalTrafficPolicy=Local: slots hold local endpoints only */

/* Key of kpr_services: one master entry (slot 0) plus one entry per backend slot 1..count. */
struct kpr_svc_key {
	__be32 vip;   /* frontend IPv4 address (clusterIP or externalIP) */
	__be16 dport; /* frontend port */
	__u8 proto;   /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad1;    /* always 0 */
	__u16 slot;   /* 0 = master entry, 1..count = backend slots */
	__u16 pad2;   /* always 0 */
};

/* Value of kpr_services. Master entries use count/service_id/flags; slots use backend_id. */
struct kpr_svc_value {
	__u32 backend_id; /* slots: key into kpr_backends; master: 0 */
	__u16 count;      /* master: number of backend slots; 0 = refuse connections */
	__u16 flags;      /* master: KPR_SVC_F_* */
	__u32 service_id; /* master: key into kpr_svc_names; slots: 0 */
};

/* Value of kpr_backends (key: __u32 backend id, never 0). */
struct kpr_backend {
	__be32 ip;   /* backend IPv4 address */
	__be16 port; /* backend port */
	__u8 proto;  /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad;    /* always 0 */
};

/* Value of kpr_svc_names (key: __u32 service id): lets `kpr service list` name a frontend. */
struct kpr_svc_name {
	char name[KPR_SVC_NAME_LEN]; /* "ns/name:port/PROTO", NUL-padded */
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

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, KPR_BACKENDS_MAX);
	__type(key, __u32);
	__type(value, struct kpr_backend);
} kpr_backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, KPR_SVC_NAMES_MAX);
	__type(key, __u32);
	__type(value, struct kpr_svc_name);
} kpr_svc_names SEC(".maps");

/* LRU: entries of closed sockets age out on their own; LRU maps cannot be NO_PREALLOC. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, KPR_REVNAT_MAX);
	__type(key, struct kpr_revnat_key);
	__type(value, struct kpr_revnat_value);
} kpr_revnat SEC(".maps");

#endif /* KPR_MAPS_H */
