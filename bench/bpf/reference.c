// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The reference: the least work any pinhole checker must do. It parses
 * Ethernet, IPv4 or IPv6 and TCP, and looks the 4-tuple up in a hash map
 * once per TCP packet. The key holds 16-byte addresses, as any checker that
 * serves IPv6 needs, so it is as long as ftpxdp's pinhole key (36 bytes). A
 * SYN without ACK and without an entry is dropped; everything else passes. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct tuple {
	__u32 saddr[4];
	__u32 daddr[4];
	__be16 sport;
	__be16 dport;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tuple);
	__type(value, __u8);
} tuples SEC(".maps");

SEC("xdp")
int reference_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct tuple t = {};
	struct tcphdr *tcp;

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_TCP)
			return XDP_PASS;
		__u32 hlen = ip->ihl * 4;
		if (hlen < sizeof(*ip))
			return XDP_PASS;
		t.saddr[0] = ip->saddr;
		t.daddr[0] = ip->daddr;
		tcp = (void *)ip + hlen;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_TCP)
			return XDP_PASS;
		__builtin_memcpy(t.saddr, &ip6->saddr, 16);
		__builtin_memcpy(t.daddr, &ip6->daddr, 16);
		tcp = (void *)(ip6 + 1);
	} else {
		return XDP_PASS;
	}
	if ((void *)(tcp + 1) > end)
		return XDP_PASS;
	t.sport = tcp->source;
	t.dport = tcp->dest;
	if (!bpf_map_lookup_elem(&tuples, &t) && tcp->syn && !tcp->ack)
		return XDP_DROP;
	return XDP_PASS;
}
