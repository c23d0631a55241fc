// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The lab's receiver, attached to the server's veth: counts every frame that
 * reached the far end, stamps the first and the last, and drops them. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

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
