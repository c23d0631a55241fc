// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The floor: what any XDP or TC program costs before it reads a byte. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int floor_xdp(struct xdp_md *ctx)
{
	return XDP_PASS;
}

/* TCX: "next", as ftpxdp's TC program answers a packet it lets through. */
SEC("tc")
int floor_tc(struct __sk_buff *skb)
{
	return TC_ACT_UNSPEC;
}
