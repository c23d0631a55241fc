/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef FTPXDP_MAPS_H
#define FTPXDP_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "common.h"
#include "ftp.h"

/* Live IPv6 pinholes (IPv4 ones are in pintab4, pintab.h). A plain hash,
 * not LRU: a full map fails closed and counts it, it never evicts a live
 * pinhole. The loader sizes it; slots are allocated on use, so that a
 * mostly-IPv4 gateway does not pay for a second full table. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PINHOLE_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pinhole_key);
	__type(value, struct pinhole_val);
} pinholes6 SEC(".maps");

/* Per-control-connection state; LRU so it is bounded without a sweeper. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CTRL_MAP_SIZE);
	__type(key, struct ctrl_key);
	__type(value, struct ctrl_state);
} ctrl_conns SEC(".maps");

/* Static allow rules for SYNs on the outside (e.g. tcp/21 to a server). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ALLOW_MAP_SIZE);
	__type(key, struct allow_key);
	__type(value, __u8);
} allow_rules SEC(".maps");

/* Per-source pinhole creation budget. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, RATE_MAP_SIZE);
	__type(key, struct rate_key);
	__type(value, struct rate_val);
} rate_limit SEC(".maps");

/* Counters: slot * COUNTER_MAX + enum counter. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_IFACES * COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* Wait from pinhole creation to the admitted SYN: one slot per bucket of
 * cfg.wait_bounds_ns (cumulative in Go), then +Inf, then the sum in ns. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WAIT_BUCKETS + 2);
	__type(key, __u32);
	__type(value, __u64);
} admit_wait SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_buf SEC(".maps");

/* A zeroed ctrl_state to insert from: the struct is too large for the stack.
 * Never written. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ctrl_state);
} ctrl_template SEC(".maps");

#endif
