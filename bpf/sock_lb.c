// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * sock_lb.c: kpr's socket-level ClusterIP/externalIP load balancer. Attached to a cgroup v2
 * directory, it rewrites the destination of connect()/sendmsg() from a service frontend to one
 * of its backends, and rewrites the peer reported by recvmsg()/getpeername() back to the
 * frontend. No per-packet work: a socket is translated once. IPv4 only for now.
 */
#include "kpr_maps.h"
#include "lb4.h"

/* TCP connect() and connected UDP. */
SEC("cgroup/connect4")
int kpr_connect4(struct bpf_sock_addr *ctx)
{
	return lb4_xlate_fwd(ctx);
}

/* Unconnected UDP sendto()/sendmsg() with a destination address. */
SEC("cgroup/sendmsg4")
int kpr_sendmsg4(struct bpf_sock_addr *ctx)
{
	return lb4_xlate_fwd(ctx);
}

/* UDP replies: the application sees the datagram come from the frontend. */
SEC("cgroup/recvmsg4")
int kpr_recvmsg4(struct bpf_sock_addr *ctx)
{
	lb4_xlate_rev(ctx);
	return 1; /* recvmsg hooks must return 1 */
}

/* getpeername() on a translated socket reports the frontend. */
SEC("cgroup/getpeername4")
int kpr_getpeername4(struct bpf_sock_addr *ctx)
{
	lb4_xlate_rev(ctx);
	return 1; /* getpeername hooks must return 1 */
}

char _license[] SEC("license") = "Dual BSD/GPL";
