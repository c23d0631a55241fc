// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The floor: what any XDP program costs before it reads a byte. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int floor_xdp(struct xdp_md *ctx)
{
	return XDP_PASS;
}
