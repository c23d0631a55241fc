// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The lab's receiver, attached to the server's veth: counts the IPv4 TCP
 * frames that reached the far end (what the generator offers; not a frame
 * the gateway sends on its own, which a flood run once counted as a SYN let
 * through), stamps the first and the last, and drops every frame. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct tally {
	__u64 packets;
	__u64 first_ns;
	__u64 last_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tally);
} tallies SEC(".maps");

SEC("xdp")
int sink_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->protocol != IPPROTO_TCP)
		return XDP_DROP;
	__u32 zero = 0;
	struct tally *t = bpf_map_lookup_elem(&tallies, &zero);
	if (!t)
		return XDP_DROP;
	__u64 now = bpf_ktime_get_ns();
	if (!t->packets)
		t->first_ns = now;
	t->last_ns = now;
	t->packets++;
	return XDP_DROP;
}
