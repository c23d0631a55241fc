// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The lab's packet generator, run with BPF_PROG_TEST_RUN in live-frame mode
 * on the client's veth: every repeat transmits the frame (XDP_TX) to the
 * peer. The kernel recycles a frame's page without restoring its bytes, and
 * the gateway has rewritten them (MACs, TTL, checksum) on the way through,
 * so each repeat writes the headers afresh from the template hdr: Ethernet,
 * IPv4 and TCP without options. With sport_span set, the TCP source port
 * walks sport_base .. sport_base+sport_span-1 (a flood of distinct
 * connections), the checksum updated incrementally from the template's. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct hdr {
	struct ethhdr eth;
	struct iphdr ip;
	struct tcphdr tcp;
} __attribute__((packed));

/* The headers, 54 bytes, in 32-bit words: read through volatile so that
 * clang never folds the zeros it was compiled with. */
volatile const __u32 tmpl[14];
volatile const __u16 sport_base;
volatile const __u16 sport_span; /* 0: the template's port */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sent SEC(".maps");

static __always_inline __u16 csum_fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

SEC("xdp")
int trafficgen_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct hdr *h = data;
	if ((void *)(h + 1) > end)
		return XDP_ABORTED;
	__u32 *w = data;
#pragma unroll
	for (int k = 0; k < 13; k++)
		w[k] = tmpl[k];
	*(__u16 *)&w[13] = (__u16)tmpl[13];

	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&sent, &zero);
	if (!n)
		return XDP_ABORTED;
	__u64 i = (*n)++;
	if (!sport_span)
		return XDP_TX;
	const volatile struct hdr *t = (const volatile void *)tmpl;
	__u16 old = t->tcp.source;
	__u16 new = bpf_htons(sport_base + (__u16)(i % sport_span));
	/* RFC 1624: HC' = ~(~HC + ~m + m') */
	__u32 s = (__u16)~t->tcp.check;
	s += (__u16)~old;
	s += new;
	h->tcp.check = ~csum_fold(s);
	h->tcp.source = new;
	return XDP_TX;
}
