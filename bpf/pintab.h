/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* pintab4: the IPv4 pinhole table. The kernel's hash map costs a SYN about
 * 20 ns in jhash, a bucket walk and a memcmp; this table is an array of
 * buckets of PT_WAYS slots, each key in one of two buckets picked by two
 * keyed multiply-shift hashes, so a SYN reads one or two buckets inline.
 *
 * Writers (the control path, and Go through pintab_op) take the bucket's
 * spin lock. A slot's key and value are written before its bit in used is
 * set; a delete clears the bit. Readers (SYNs) take no lock: they read the
 * bucket's seq, then used, then the keys it marks, then seq again, and
 * count a match only if seq was even and did not change: every write that
 * sets or clears a bit makes seq odd while it works, so a key torn by a
 * slot's reuse is never matched (a reader that cannot tell fails closed: the
 * SYN is dropped, its retransmission finds the pinhole). What a SYN reads
 * of the value after that can still be a newer pinhole's (SECURITY.md,
 * residual risks).
 *
 * A new key goes to the less full of its buckets. Two writers racing to
 * insert one key can put it in both; each writer that inserts checks the
 * other bucket under its lock afterwards and the copy in the second bucket
 * goes, so the table settles on one (lookups try the first bucket first).
 * The live count enforces --max-pinholes. With slots for twice the
 * capacity a full pair of buckets is not expected (a simulation of 1M keys
 * in 256K buckets: none, at most 7 of 8 slots in any); it is refused and
 * counted as map_full. */
#ifndef FTPXDP_PINTAB_H
#define FTPXDP_PINTAB_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "common.h"

#define PT_WAYS 8

/* A key as a bucket stores it: the addresses as one word to compare. */
struct pt_key {
	__u64 addrs; /* saddr | daddr << 32, as loaded from pinhole_key4 */
	__be16 dport;
	__u16 pad;
	__u32 pad2;
};

struct pt_bucket {
	struct bpf_spin_lock lock;
	__u32 used; /* bit i: slot i holds a pinhole */
	__u32 seq;  /* odd while a writer sets or clears bits */
	__u32 pad;
	struct pt_key keys[PT_WAYS];
	struct pinhole_val vals[PT_WAYS];
};

/* The table's seeds and live count, pinned with it: an upgraded program
 * must hash as the one that filled the table. */
struct pt_meta {
	__u64 k1, k2, k3, k4; /* odd, random per table */
	__u64 live;           /* pinholes in the table */
	__u32 buckets;        /* the table's size */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << 2); /* the loader sizes it */
	__type(key, __u32);
	__type(value, struct pt_bucket);
} pintab4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pt_meta);
} pintab4_meta SEC(".maps");

/* What pt_put answers. */
enum pt_result {
	PT_OK = 0,
	PT_AT_CAPACITY = -1, /* --max-pinholes pinholes are live */
	PT_EXISTS = -2,      /* the key is there and must not be replaced */
	PT_PAIR_FULL = -3,   /* both of the key's buckets are full */
	PT_INTERNAL = -4,    /* a map lookup failed */
};

#define PT_BARRIER() asm volatile("" ::: "memory")

static __always_inline __u64 pt_addrs(const struct pinhole_key4 *k)
{
	return (__u64)k->saddr | (__u64)k->daddr << 32;
}

/* A bucket of a key: the top 32 bits of a multiply-shift hash, scaled to
 * the bucket count (a multiply, not a modulo). */
static __always_inline __u32 pt_bucket(__u64 addrs, __be16 dport, __u64 ka, __u64 kb)
{
	__u64 h = addrs * ka + (__u64)dport * kb;
	return ((h >> 32) * cfg.pt_buckets) >> 32;
}

/* The two buckets of a key. */
static __always_inline void pt_buckets(__u64 addrs, __be16 dport, __u32 *b1, __u32 *b2)
{
	*b1 = pt_bucket(addrs, dport, cfg.pt_k1, cfg.pt_k2);
	*b2 = pt_bucket(addrs, dport, cfg.pt_k3, cfg.pt_k4);
}

static __always_inline int pt_key_is(const struct pt_bucket *bk, int i, __u64 addrs, __be16 dport)
{
	return bk->keys[i].addrs == addrs && bk->keys[i].dport == dport;
}

/* The slot of the key in bk, read without the lock; -1 when it is not
 * there or a writer changed the bucket meanwhile. */
static __always_inline int pt_slot_of(struct pt_bucket *bk, __u64 addrs, __be16 dport)
{
	__u32 seq = *(volatile __u32 *)&bk->seq;
	PT_BARRIER();
	__u32 used = *(volatile __u32 *)&bk->used;
	PT_BARRIER();
	int slot = -1;
#pragma unroll
	for (int i = 0; i < PT_WAYS; i++) {
		if ((used & (1u << i)) && pt_key_is(bk, i, addrs, dport)) {
			slot = i;
			break;
		}
	}
	PT_BARRIER();
	if ((seq & 1) || *(volatile __u32 *)&bk->seq != seq)
		return -1;
	return slot;
}

/* The slot of the key in bk, under its lock held by the caller. */
static __always_inline int pt_slot_locked(struct pt_bucket *bk, __u64 addrs, __be16 dport)
{
	__u32 used = bk->used;
	int slot = -1;
#pragma unroll
	for (int i = 0; i < PT_WAYS; i++) {
		if ((used & (1u << i)) && pt_key_is(bk, i, addrs, dport))
			slot = i;
	}
	return slot;
}

static __always_inline __u32 pt_load(struct pt_bucket *bk)
{
	return __builtin_popcount(*(volatile __u32 *)&bk->used);
}

/* Sets bk->used to used, under its lock held by the caller, with seq odd
 * while it changes (see the top). */
static __always_inline void pt_set_used(struct pt_bucket *bk, __u32 used)
{
	bk->seq++;
	PT_BARRIER();
	bk->used = used;
	PT_BARRIER();
	bk->seq++;
}

/* Always 1, but not a constant to the verifier (.data is writable): see
 * pt_find. */
volatile __u32 pt_one = 1;

/* The pinhole of k, or NULL: no lock, no call. Each slot it can be found
 * in is another register state for the verifier, which would check the
 * SYN's admission (and what follows) once per slot; multiplied by pt_one
 * the slot becomes one unknown index in [0, PT_WAYS), checked once. */
static __always_inline struct pinhole_val *pt_find(const struct pinhole_key4 *k)
{
	__u64 addrs = pt_addrs(k);
	__u32 b = pt_bucket(addrs, k->dport, cfg.pt_k1, cfg.pt_k2);
	struct pt_bucket *bk = bpf_map_lookup_elem(&pintab4, &b);
	if (!bk)
		return NULL;
	int i = pt_slot_of(bk, addrs, k->dport);
	if (i < 0) { /* the second bucket's hash only on a miss */
		b = pt_bucket(addrs, k->dport, cfg.pt_k3, cfg.pt_k4);
		bk = bpf_map_lookup_elem(&pintab4, &b);
		if (!bk)
			return NULL;
		i = pt_slot_of(bk, addrs, k->dport);
		if (i < 0)
			return NULL;
	}
	return &bk->vals[(i * pt_one) & (PT_WAYS - 1)];
}

enum pt_put_in {
	PT_REPLACED = 0, /* k was there; its value is now v */
	PT_INSERTED = 1,
	PT_FULL = -1,    /* the bucket has no free slot */
	PT_KEPT = -2,    /* k was there and replace was not set */
	PT_GONE = -3,    /* k was not there, and insert was not set */
};

/* Writes v under k in bucket bk, under its lock: over k's slot, or with
 * insert set into a free one. */
static __always_inline int pt_put_in(struct pt_bucket *bk, __u64 addrs, __be16 dport,
				     const struct pinhole_val *v, int replace, int insert)
{
	int ret = PT_FULL;
	bpf_spin_lock(&bk->lock);
	__u32 used = bk->used;
	int slot = -1, free = -1;
#pragma unroll
	for (int i = 0; i < PT_WAYS; i++) {
		if (used & (1u << i)) {
			if (pt_key_is(bk, i, addrs, dport))
				slot = i;
		} else if (free < 0) {
			free = i;
		}
	}
	if (slot >= 0) {
		ret = PT_KEPT;
		if (replace) {
			bk->vals[slot & (PT_WAYS - 1)] = *v;
			ret = PT_REPLACED;
		}
	} else if (!insert) {
		ret = PT_GONE;
	} else if (free >= 0) {
		free &= PT_WAYS - 1;
		bk->keys[free].addrs = addrs;
		bk->keys[free].dport = dport;
		bk->vals[free] = *v;
		PT_BARRIER(); /* the slot before its bit */
		pt_set_used(bk, used | (1u << free));
		ret = PT_INSERTED;
	}
	bpf_spin_unlock(&bk->lock);
	return ret;
}

/* Clears k from bucket bk, under its lock; 1 if it was there. With
 * by_created set only if it was created at created (a flush: not one made
 * again since it was listed). */
static __always_inline int pt_del_in(struct pt_bucket *bk, __u64 addrs, __be16 dport, __u64 created,
				     int by_created)
{
	int ret = 0;
	bpf_spin_lock(&bk->lock);
	__u32 used = bk->used;
#pragma unroll
	for (int i = 0; i < PT_WAYS; i++) {
		if ((used & (1u << i)) && pt_key_is(bk, i, addrs, dport) &&
		    (!by_created || bk->vals[i].created_ns == created)) {
			used &= ~(1u << i);
			ret = 1;
		}
	}
	if (ret)
		pt_set_used(bk, used);
	bpf_spin_unlock(&bk->lock);
	return ret;
}

/* Whether bk holds k, looked at under its lock: after writing another
 * bucket, so that of two writers racing on one key at least one sees the
 * other's copy (the lock orders them). */
static __always_inline int pt_holds(struct pt_bucket *bk, __u64 addrs, __be16 dport)
{
	bpf_spin_lock(&bk->lock);
	int slot = pt_slot_locked(bk, addrs, dport);
	bpf_spin_unlock(&bk->lock);
	return slot >= 0;
}

static __always_inline struct pt_meta *pt_meta(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&pintab4_meta, &zero);
}

/* Inserts or replaces k's pinhole (enum pt_result). */
static __always_inline int pt_put(const struct pinhole_key4 *k, const struct pinhole_val *v,
				  __u64 max, int replace)
{
	struct pt_meta *m = pt_meta();
	if (!m)
		return PT_INTERNAL;
	__u64 addrs = pt_addrs(k);
	__u32 b1, b2;
	pt_buckets(addrs, k->dport, &b1, &b2);
	struct pt_bucket *bk1 = bpf_map_lookup_elem(&pintab4, &b1);
	struct pt_bucket *bk2 = bpf_map_lookup_elem(&pintab4, &b2);
	if (!bk1 || !bk2)
		return PT_INTERNAL;
	/* Where k is, it stays (bk1 first, as lookups look). Looked for under
	 * each bucket's lock: a lockless look misses k while another writer
	 * works on its bucket, and would put a second copy beside it. */
	int r = pt_put_in(bk1, addrs, k->dport, v, replace, 0);
	if (r == PT_GONE && b2 != b1)
		r = pt_put_in(bk2, addrs, k->dport, v, replace, 0);
	if (r != PT_GONE)
		return r == PT_KEPT ? PT_EXISTS : PT_OK;
	if (__sync_fetch_and_add(&m->live, 1) >= max) {
		__sync_fetch_and_add(&m->live, -1);
		return PT_AT_CAPACITY;
	}
	/* The less full bucket first. */
	int second = pt_load(bk2) < pt_load(bk1);
	r = pt_put_in(second ? bk2 : bk1, addrs, k->dport, v, replace, 1);
	if (r == PT_FULL) {
		second = !second;
		r = pt_put_in(second ? bk2 : bk1, addrs, k->dport, v, replace, 1);
	}
	if (r != PT_INSERTED) {
		__sync_fetch_and_add(&m->live, -1);
		if (r == PT_KEPT)
			return PT_EXISTS;
		return r == PT_FULL ? PT_PAIR_FULL : PT_OK;
	}
	/* A writer racing on k since the look may have put it in the other
	 * bucket: the copy in bk2 goes. */
	if (b1 != b2 && (!second || pt_holds(bk1, addrs, k->dport)) &&
	    pt_del_in(bk2, addrs, k->dport, 0, 0))
		__sync_fetch_and_add(&m->live, -1);
	return PT_OK;
}

/* Deletes k from both of its buckets (with by_created, only that pinhole:
 * see pt_del_in); 1 if it was there. */
static __always_inline int pt_del(const struct pinhole_key4 *k, __u64 created, int by_created)
{
	struct pt_meta *m = pt_meta();
	if (!m)
		return 0;
	__u64 addrs = pt_addrs(k);
	__u32 b1, b2;
	pt_buckets(addrs, k->dport, &b1, &b2);
	int n = 0;
	struct pt_bucket *bk = bpf_map_lookup_elem(&pintab4, &b1);
	if (bk)
		n += pt_del_in(bk, addrs, k->dport, created, by_created);
	if (b2 != b1) {
		bk = bpf_map_lookup_elem(&pintab4, &b2);
		if (bk)
			n += pt_del_in(bk, addrs, k->dport, created, by_created);
	}
	if (n)
		__sync_fetch_and_add(&m->live, -n);
	return n > 0;
}

/* One operation Go asks for (pintab_op). */
struct pt_op {
	__u32 op;  /* enum pt_op_code */
	__s32 ret; /* pt_put's (enum pt_result) or pt_del's answer; PT_OP_SWEEP: pinholes removed */
	struct pinhole_key4 key;
	__u32 pad;
	__u64 arg;          /* PT_OP_SWEEP: the time; PT_OP_DEL_CREATED: created_ns (0 too) */
	__u32 from, count;  /* PT_OP_SWEEP: buckets [from, from + count) */
	__u64 unused, used; /* PT_OP_SWEEP: removed without a SYN, and after one */
	struct pinhole_val val;
};

enum pt_op_code {
	PT_OP_PUT = 1,         /* insert or replace */
	PT_OP_PUT_NEW = 2,     /* insert if absent */
	PT_OP_SWEEP = 5,       /* remove what expired by arg in a range of buckets */
	PT_OP_DEL_CREATED = 6, /* delete if created at arg */
};

/* How many buckets one PT_OP_SWEEP may cover: each takes a lock, and the
 * run keeps softirqs off its CPU. */
#define PT_SWEEP_MAX 4096

struct pt_sweep {
	__u64 now;
	__u32 from;
	__u32 pad;
	__u64 unused, used;
};

/* One bucket of a sweep: bpf_loop's callback. */
static long pt_sweep_bucket(__u32 i, struct pt_sweep *sw)
{
	__u32 b = sw->from + i;
	struct pt_bucket *bk = bpf_map_lookup_elem(&pintab4, &b);
	if (!bk)
		return 1; /* past the end */
	if (!*(volatile __u32 *)&bk->used)
		return 0;
	__u64 unused = 0, used = 0;
	bpf_spin_lock(&bk->lock);
	__u32 u = bk->used;
#pragma unroll
	for (int s = 0; s < PT_WAYS; s++) {
		if ((u & (1u << s)) && bk->vals[s].expires_ns <= sw->now) {
			u &= ~(1u << s);
			if (bk->vals[s].used_ns)
				used++;
			else
				unused++;
		}
	}
	if (unused + used)
		pt_set_used(bk, u);
	bpf_spin_unlock(&bk->lock);
	sw->unused += unused;
	sw->used += used;
	return 0;
}

#endif
