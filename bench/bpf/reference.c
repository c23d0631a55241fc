// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The reference: the least work any pinhole checker must do. It parses
 * Ethernet, IPv4 or IPv6 and TCP, and looks the 4-tuple up once per TCP
 * packet, in a hash map per family: 12-byte keys for IPv4, 36-byte keys
 * for IPv6 (a single map would need the long key for both). A SYN without
 * ACK and without an entry is dropped; everything else passes.
 *
 * reference_xdp is the per-packet baseline. The gateway lab attaches
 * reference_gw_xdp and reference_gw_tc, the same check counting its drops
 * (as any checker in production must, and as the lab needs to account
 * for a flood): the bound any pinhole checker meets at each hook. And it
 * attaches syn_drop_gw_xdp and syn_drop_gw_tc, which drop every SYN without
 * ACK with no lookup at all: the fastest a hook drops a flood, whatever
 * the checker. */
#include <linux/pkt_cls.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* SYNs the gateway variants dropped. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

struct tuple4 {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
};

struct tuple6 {
	__u32 saddr[4];
	__u32 daddr[4];
	__be16 sport;
	__be16 dport;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tuple4);
	__type(value, __u8);
} tuples4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tuple6);
	__type(value, __u8);
} tuples6 SEC(".maps");

/* keep: 1 to let the packet through, 0 to drop it. */
static __always_inline int keep(void *data, void *end)
{
	struct ethhdr *eth = data;
	struct tcphdr *tcp;
	int syn;
	void *hit;

	if ((void *)(eth + 1) > end)
		return 1;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_TCP)
			return 1;
		__u32 hlen = ip->ihl * 4;
		if (hlen < sizeof(*ip))
			return 1;
		struct tuple4 t = { .saddr = ip->saddr, .daddr = ip->daddr };
		tcp = (void *)ip + hlen;
		if ((void *)(tcp + 1) > end)
			return 1;
		t.sport = tcp->source;
		t.dport = tcp->dest;
		syn = tcp->syn && !tcp->ack;
		hit = bpf_map_lookup_elem(&tuples4, &t);
		/* Keep clang from merging the two lookups into one call: the
		 * verifier inlines a lookup only where the call sees one map. */
		asm volatile("/* v4 */" : "+r"(hit));
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_TCP)
			return 1;
		tcp = (void *)(ip6 + 1);
		if ((void *)(tcp + 1) > end)
			return 1;
		struct tuple6 t = { .sport = tcp->source, .dport = tcp->dest };
		__builtin_memcpy(t.saddr, &ip6->saddr, 16);
		__builtin_memcpy(t.daddr, &ip6->daddr, 16);
		syn = tcp->syn && !tcp->ack;
		hit = bpf_map_lookup_elem(&tuples6, &t);
		asm volatile("/* v6 */" : "+r"(hit));
	} else {
		return 1;
	}
	if (!hit && syn)
		return 0;
	return 1;
}

SEC("xdp")
int reference_xdp(struct xdp_md *ctx)
{
	return keep((void *)(long)ctx->data, (void *)(long)ctx->data_end) ? XDP_PASS : XDP_DROP;
}

static __always_inline void count_drop(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&drops, &zero);
	if (n)
		*n += 1;
}

SEC("xdp")
int reference_gw_xdp(struct xdp_md *ctx)
{
	if (keep((void *)(long)ctx->data, (void *)(long)ctx->data_end))
		return XDP_PASS;
	count_drop();
	return XDP_DROP;
}

/* TCX: "next" for what it keeps, as ftpxdp's TC program answers. */
SEC("tc")
int reference_gw_tc(struct __sk_buff *skb)
{
	if (keep((void *)(long)skb->data, (void *)(long)skb->data_end))
		return TC_ACT_UNSPEC;
	count_drop();
	return TC_ACT_SHOT;
}

/* 1 for a TCP SYN without ACK in plain IPv4 (what the lab's flood sends). */
static __always_inline int bare_syn(void *data, void *end)
{
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *tcp = (void *)(ip + 1);
	if ((void *)(tcp + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->protocol != IPPROTO_TCP)
		return 0;
	return tcp->syn && !tcp->ack;
}

SEC("xdp")
int syn_drop_gw_xdp(struct xdp_md *ctx)
{
	if (!bare_syn((void *)(long)ctx->data, (void *)(long)ctx->data_end))
		return XDP_PASS;
	count_drop();
	return XDP_DROP;
}

SEC("tc")
int syn_drop_gw_tc(struct __sk_buff *skb)
{
	if (!bare_syn((void *)(long)skb->data, (void *)(long)skb->data_end))
		return TC_ACT_UNSPEC;
	count_drop();
	return TC_ACT_SHOT;
}
