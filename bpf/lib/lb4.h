/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * lb4.h: IPv4 socket load-balancing building blocks shared by the sock_lb.c hooks: frontend
 * lookup, backend choice, and the reverse (backend -> frontend) mapping for replies.
 */
#ifndef KPR_LB4_H
#define KPR_LB4_H

#include <linux/in.h>
#include <linux/errno.h>
#include "kpr_maps.h"

/* Returns the master entry of the frontend ctx is sending to, or NULL for non-service traffic. */
static __always_inline struct kpr_svc_value *lb4_lookup_master(struct bpf_sock_addr *ctx, struct kpr_svc_key *key)
{
	__u32 proto = ctx->protocol;

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return NULL;
	key->vip = ctx->user_ip4;
	key->dport = (__be16)ctx->user_port; /* network order in the low 16 bits */
	key->proto = (__u8)proto;
	key->pad1 = 0;
	key->slot = 0;
	key->pad2 = 0;
	return bpf_map_lookup_elem(&kpr_services, key);
}

/*
 * Picks a backend index in 0..count-1. TCP: random per connection. UDP: derived from the socket
 * cookie, so every datagram of one unconnected socket goes to the same backend and replies
 * match the reverse mapping recorded for that socket.
 */
static __always_inline __u32 lb4_select_index(struct bpf_sock_addr *ctx, __u16 count)
{
	__u32 r;

	if (ctx->protocol == IPPROTO_UDP)
		r = (__u32)bpf_get_socket_cookie(ctx);
	else
		r = bpf_get_prandom_u32();
	return r % count;
}

/*
 * Returns the chosen backend: inline in the master entry for the first 16, else in overflow
 * entry index/16. NULL if a concurrent update removed the overflow entry or emptied the position.
 */
static __always_inline struct kpr_backend *lb4_pick_backend(struct bpf_sock_addr *ctx, struct kpr_svc_key *key,
							    struct kpr_svc_value *master)
{
	struct kpr_svc_value *v = master;
	struct kpr_backend *be;
	__u32 idx;

	idx = lb4_select_index(ctx, master->count);
	if (idx >= KPR_SLOT_BACKENDS) {
		key->slot = (__u16)(idx / KPR_SLOT_BACKENDS);
		v = bpf_map_lookup_elem(&kpr_services, key);
		if (!v)
			return NULL;
	}
	be = &v->backends[idx & (KPR_SLOT_BACKENDS - 1)];
	return be->ip ? be : NULL;
}

/*
 * Forward translation for connect4/sendmsg4. Returns 1 (allow) after rewriting ctx to a backend,
 * 1 untouched for non-service traffic, or 0 with retval -ECONNREFUSED for a frontend without
 * backends, so the caller fails at once instead of waiting for a SYN timeout.
 */
static __always_inline int lb4_xlate_fwd(struct bpf_sock_addr *ctx)
{
	struct kpr_revnat_key rkey = {};
	struct kpr_revnat_value rval = {};
	struct kpr_svc_key key;
	struct kpr_svc_value *master;
	struct kpr_backend *be;

	master = lb4_lookup_master(ctx, &key);
	if (!master)
		return 1;
	if (master->count == 0)
		goto refuse;
	be = lb4_pick_backend(ctx, &key, master);
	if (!be)
		goto refuse;

	rkey.cookie = bpf_get_socket_cookie(ctx);
	rkey.ip = be->ip;
	rkey.port = be->port;
	rval.vip = key.vip;
	rval.dport = key.dport;
	/* Best effort: without it only the reported peer address differs, traffic still flows. */
	bpf_map_update_elem(&kpr_revnat, &rkey, &rval, BPF_ANY);

	ctx->user_ip4 = be->ip;
	ctx->user_port = (__u32)be->port;
	return 1;

refuse:
	bpf_set_retval(-ECONNREFUSED);
	return 0;
}

/* Reverse translation for recvmsg4/getpeername4: report the frontend, not the backend. */
static __always_inline void lb4_xlate_rev(struct bpf_sock_addr *ctx)
{
	struct kpr_revnat_key rkey = {};
	struct kpr_revnat_value *rval;

	rkey.cookie = bpf_get_socket_cookie(ctx);
	rkey.ip = ctx->user_ip4;
	rkey.port = (__be16)ctx->user_port;
	rval = bpf_map_lookup_elem(&kpr_revnat, &rkey);
	if (!rval)
		return;
	ctx->user_ip4 = rval->vip;
	ctx->user_port = (__u32)rval->dport;
}

#endif /* KPR_LB4_H */
