// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* ftpxdp: reads FTP control traffic, opens an exact pinhole for the data
 * connection it announces, and on the outside lets a SYN in only through a
 * static allow rule or a live pinhole. Everything else passes. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "common.h"
#include "parsing.h"
#include "ftp.h"
#include "maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the loader before load; never changes while loaded. */
volatile const struct config cfg;

#include "pintab.h" /* hashes with cfg */

/* Replay and tests drive time from capture timestamps; 0 means real time. */
volatile __u64 clock_override_ns;

enum verdict { VERDICT_PASS = 0, VERDICT_DROP = 1 };

/* Keep these enums in BTF so bpf2go emits them for Go. */
const enum counter *unused_counter __attribute__((unused));
const enum role *unused_role __attribute__((unused));
const enum pinhole_mode *unused_mode __attribute__((unused));
const struct pinhole_key4 *unused_key4 __attribute__((unused));
const struct pt_bucket *unused_bucket __attribute__((unused));
const struct pt_key *unused_pt_key __attribute__((unused));
const struct pt_meta *unused_meta __attribute__((unused));
const struct pt_op *unused_op __attribute__((unused));
const enum pt_op_code *unused_op_code __attribute__((unused));
const enum pt_result *unused_pt_result __attribute__((unused));

static __always_inline __u64 now_ns(void)
{
	__u64 t = clock_override_ns;
	return t ? t : bpf_ktime_get_ns();
}

/* The fast clock for expiry checks and idle stamps, without a helper call
 * (a clock helper costs ~15 ns here): jiffies, which the verifier inlines
 * as a load, advance an anchor of the real clock, re-read every 256
 * jiffies. The anchor falls anywhere in its tick, so the fast clock is
 * within a tick of now_ns() either way (more if jiffies lag): a pinhole may
 * be judged expired up to a tick early or admit up to a tick late. The
 * re-read bounds the error of a wrong ns_per_jiffy. The anchor is the
 * instance's (.bss), not per CPU, so no map lookup; a writer clears the
 * jiffies word first and sets it last, and a reader that sees it change
 * while it reads the time uses the real clock instead (exact on x86; on a
 * weakly ordered CPU a torn read stays possible, off by up to 256 ticks). */
volatile __u64 anchor_ns;
volatile __u64 anchor_jiffies;

static __always_inline __u64 now_fast_ns(void)
{
	__u64 t = clock_override_ns;
	if (t)
		return t;
	if (!cfg.ns_per_jiffy)
		return bpf_ktime_get_coarse_ns();
	__u64 j = bpf_jiffies64();
	__u64 aj = anchor_jiffies;
	if (aj && j - aj < 256) {
		t = anchor_ns;
		if (anchor_jiffies == aj)
			return t + (j - aj) * cfg.ns_per_jiffy;
		return bpf_ktime_get_ns(); /* re-anchored meanwhile */
	}
	t = bpf_ktime_get_ns();
	anchor_jiffies = 0;
	anchor_ns = t;
	anchor_jiffies = j;
	return t;
}

static __always_inline void count_n(__u32 c, __u64 n)
{
	__u32 idx = (__u32)cfg.iface_slot * COUNTER_MAX + c;
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		*v += n;
}

static __always_inline void count(__u32 c)
{
	count_n(c, 1);
}

/* Once per pinhole, at its first SYN: out of line, so the verifier checks
 * its unrolled search once, not at every slot a lookup can return. */
__noinline int observe_wait(__u64 wait)
{
	__u32 b = WAIT_BUCKETS;
#pragma unroll
	for (int i = WAIT_BUCKETS - 1; i >= 0; i--)
		if (wait <= cfg.wait_bounds_ns[i])
			b = i;
	__u64 *v = bpf_map_lookup_elem(&admit_wait, &b);
	if (v)
		*v += 1;
	__u32 sum = WAIT_BUCKETS + 1;
	v = bpf_map_lookup_elem(&admit_wait, &sum);
	if (v)
		*v += wait;
	return 0;
}

static __always_inline int is_ctrl_port(__be16 p)
{
	__u16 h = bpf_ntohs(p);
#pragma unroll
	for (int i = 0; i < MAX_CTRL_PORTS; i++) {
		__u16 p = cfg.ctrl_ports[i]; /* one load: cfg is volatile */
		if (!p)
			return 0; /* the loader packs them */
		if (p == h)
			return 1;
	}
	return 0;
}

static __always_inline int ctrl_equal(const struct ctrl_key *a, const struct ctrl_key *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;
#pragma unroll
	for (int i = 0; i < (int)(sizeof(*a) / 4); i++)
		if (x[i] != y[i])
			return 0;
	return 1;
}

/* ---- the SYN filter (outside ingress) ---- */

static __always_inline int port_listed(const volatile __u16 *ports, __u16 port)
{
#pragma unroll
	for (int i = 0; i < MAX_ALLOW_PORTS; i++) {
		__u16 p = ports[i]; /* one load: cfg is volatile */
		if (!p)
			return 0;
		if (p == port)
			return 1;
	}
	return 0;
}

/* Whether a static rule lets a SYN to dport in: 1 for any address, 2 when
 * the port has per-address rules (the caller looks its address up), 0 for
 * none. Ports are compares, not lookups: rules are fixed per load. */
static __always_inline int allow_port(__be16 dport)
{
	__u16 port = bpf_ntohs(dport);
	if (port_listed(cfg.allow_any_ports, port))
		return 1;
	return port_listed(cfg.allow_addr_ports, port) ? 2 : 0;
}

/* What the pinhole found for a SYN, if any, says of it. */
static __always_inline int syn_admit(struct pinhole_val *v, struct tcphdr *tcp)
{
	if (!v) {
		count(COUNTER_SYN_NO_PINHOLE);
		return VERDICT_DROP;
	}
	if (now_fast_ns() >= v->expires_ns) {
		count(COUNTER_SYN_EXPIRED_PINHOLE);
		return VERDICT_DROP;
	}
	/* First SYN wins the pinhole; only its retransmissions may follow.
	 * The plain read keeps the locked cmpxchg off the retransmit path. */
	if (v->used_ns == 0) {
		__u64 now = now_ns();
		if (__sync_val_compare_and_swap(&v->used_ns, 0, now) == 0) {
			v->used_sport = tcp->source;
			v->hits = 1;
			if (now + cfg.syn_grace_ns < v->expires_ns)
				v->expires_ns = now + cfg.syn_grace_ns;
			observe_wait(now - v->created_ns);
			count(COUNTER_SYN_ALLOWED_PINHOLE);
			return VERDICT_PASS;
		}
	}
	if (v->used_sport == tcp->source) {
		v->hits++; /* racy across CPUs, but only ever a count */
		count(COUNTER_SYN_RETRANSMIT_GRACE);
		return VERDICT_PASS;
	}
	count(COUNTER_SYN_CONSUMED_PINHOLE);
	return VERDICT_DROP;
}

/* Whether a static rule lets in a SYN to daddr (words: 1 for IPv4, 4 for
 * IPv6), counted. The per-address key is built only for a port that has
 * such rules. */
static __always_inline int rule_admits(__u8 family, const __u32 *daddr, int words, __be16 dport)
{
	int rule = allow_port(dport);
	if (rule == 2) {
		struct allow_key ak = { .family = family, .proto = IPPROTO_TCP, .dport = dport };
		__builtin_memcpy(ak.daddr, daddr, words * 4);
		rule = bpf_map_lookup_elem(&allow_rules, &ak) != 0;
	}
	if (rule)
		count(COUNTER_SYN_ALLOWED_RULE);
	return rule;
}

static __always_inline int syn_check4(__be32 saddr, __be32 daddr, struct tcphdr *tcp)
{
	if (rule_admits(AF_INET, &daddr, 1, tcp->dest))
		return VERDICT_PASS;
	struct pinhole_key4 k = { .saddr = saddr, .daddr = daddr, .dport = tcp->dest };
	return syn_admit(pt_find(&k), tcp);
}

/* The full parser's SYN check (VLAN tags, IP options, IPv6): a call of its
 * own, so that its keys stay off the main frame. */
static __noinline int syn_check(struct flow *f, struct tcphdr *tcp)
{
	if (f->family == AF_INET)
		return syn_check4(f->saddr[0], f->daddr[0], tcp);
	if (rule_admits(f->family, f->daddr, 4, tcp->dest))
		return VERDICT_PASS;
	struct pinhole_key pk = {
		.family = f->family,
		.proto = IPPROTO_TCP,
		.dport = tcp->dest,
	};
	__builtin_memcpy(pk.saddr, f->saddr, sizeof(pk.saddr));
	__builtin_memcpy(pk.daddr, f->daddr, sizeof(pk.daddr));
	struct pinhole_val *v = bpf_map_lookup_elem(&pinholes6, &pk);
	asm volatile("" : "+r"(v));
	return syn_admit(v, tcp);
}

/* ---- the control channel ---- */

/* What one control segment's lines need to know. */
struct line_env {
	struct ctrl_key ctrl;
	__u64 now;        /* the real clock, read when a pinhole is stamped */
	__u32 dir;        /* 0: client -> server, 1: server -> client */
	__u32 skip_first; /* the first line continues one from an earlier segment */
	__u32 prev_cr;    /* the byte before the segment was a CR */
	__u32 line_start; /* offset of the current line in the segment */
	__u32 lines_other; /* lines of no interest, counted once per segment */
};


static __always_inline int rate_ok(struct line_env *e)
{
	if (!cfg.rate_window_ns)
		return 1;
	struct rate_key rk = { .family = e->ctrl.family };
	__builtin_memcpy(rk.addr, e->ctrl.client, sizeof(rk.addr));
	struct rate_val *rv = bpf_map_lookup_elem(&rate_limit, &rk);
	if (!rv) {
		struct rate_val nv = { .window_start_ns = e->now, .count = 1 };
		bpf_map_update_elem(&rate_limit, &rk, &nv, BPF_ANY);
		return 1;
	}
	if (e->now - rv->window_start_ns >= cfg.rate_window_ns) {
		rv->window_start_ns = e->now;
		rv->count = 1;
		return 1;
	}
	if (rv->count >= cfg.rate_burst)
		return 0;
	rv->count++;
	return 1;
}

/* The control path names a pinhole by its full key; IPv4 ones live in
 * pintab4 under the short key. */
static __always_inline struct pinhole_key4 short_key(const struct pinhole_key *k)
{
	struct pinhole_key4 k4 = { .saddr = k->saddr[0], .daddr = k->daddr[0], .dport = k->dport };
	return k4;
}

/* A pinhole's control path renews it for a new announcement. */
static __always_inline void refresh(struct pinhole_val *v, __u64 now, __u8 mode)
{
	v->created_ns = now;
	v->expires_ns = now + cfg.pinhole_timeout_ns;
	v->used_ns = 0;
	v->used_sport = 0;
	v->mode = mode;
}

/* The control path's uses of pintab4, out of line: each inlined copy of the
 * table's unrolled bucket scans costs the verifier tens of thousands of
 * states; global, each is checked once. The checks of the key and the
 * control connection and the change happen under the bucket's lock. */

/* Renews or deletes (del set) k's pinhole in bucket b if ctrl made it;
 * returns 1 if it did, 2 if k is there but another connection's, 0 if k is
 * not there. */
static __always_inline int pt_own_in(__u32 b, __u64 addrs, __be16 dport, const struct ctrl_key *ctrl,
				     __u64 now, __u8 mode, int del)
{
	struct pt_bucket *bk = bpf_map_lookup_elem(&pintab4, &b);
	if (!bk)
		return 0;
	int ret = 0;
	bpf_spin_lock(&bk->lock);
	int i = pt_slot_locked(bk, addrs, dport);
	if (i >= 0) {
		i &= PT_WAYS - 1;
		ret = 2;
		if (ctrl_equal(&bk->vals[i].ctrl, ctrl)) {
			ret = 1;
			if (del)
				pt_set_used(bk, bk->used & ~(1u << i));
			else
				refresh(&bk->vals[i], now, mode);
		}
	}
	bpf_spin_unlock(&bk->lock);
	return ret;
}

/* Renews (or with del set deletes) k's pinhole if ctrl made it; 1 if so. */
__noinline int pt_own(const struct pinhole_key4 *k, const struct ctrl_key *ctrl, __u64 now, __u32 mode,
		      __u32 del)
{
	if (!k || !ctrl)
		return 0;
	__u64 addrs = pt_addrs(k);
	__u32 b1, b2;
	pt_buckets(addrs, k->dport, &b1, &b2);
	int r = pt_own_in(b1, addrs, k->dport, ctrl, now, mode, del);
	if (r == 0 && b2 != b1)
		r = pt_own_in(b2, addrs, k->dport, ctrl, now, mode, del);
	if (r != 1)
		return 0;
	if (del) {
		struct pt_meta *m = pt_meta();
		if (m)
			__sync_fetch_and_add(&m->live, -1);
	}
	return 1;
}

/* Inserts or replaces k's pinhole; 0 on success. */
__noinline int pt_put_ctrl(const struct pinhole_key4 *k, const struct pinhole_val *v)
{
	if (!k || !v)
		return -1;
	return pt_put(k, v, cfg.max_pinholes, 1);
}

/* Renews (or with del set deletes) k's pinhole if ctrl made it, in its
 * family's table; 1 if so. */
static __always_inline int hole_own(const struct pinhole_key *k, const struct ctrl_key *ctrl, __u64 now,
				    __u8 mode, int del)
{
	if (k->family == AF_INET) {
		struct pinhole_key4 k4 = short_key(k);
		return pt_own(&k4, ctrl, now, mode, del);
	}
	struct pinhole_val *v = bpf_map_lookup_elem(&pinholes6, k);
	asm volatile("" : "+r"(v)); /* two call sites, each inlined */
	if (!v || !ctrl_equal(&v->ctrl, ctrl))
		return 0;
	if (del)
		return bpf_map_delete_elem(&pinholes6, k) == 0;
	refresh(v, now, mode);
	return 1;
}

static __always_inline long pinhole_put(const struct pinhole_key *k, const struct pinhole_val *v)
{
	if (k->family == AF_INET) {
		struct pinhole_key4 k4 = short_key(k);
		return pt_put_ctrl(&k4, v);
	}
	return bpf_map_update_elem(&pinholes6, k, v, BPF_ANY);
}

/* The announcer is the sender of the line; the pinhole lets its peer in. */
static __always_inline void open_pinhole(struct scratch *s, struct ctrl_state *st, struct line_env *e,
					 __u16 port, __u8 mode)
{
	e->now = now_ns(); /* the real clock only on the rare path that stamps */
	struct pinhole_key k = {
		.family = e->ctrl.family,
		.proto = IPPROTO_TCP,
		.dport = bpf_htons(port),
	};
	if (e->dir == 0) {
		__builtin_memcpy(k.saddr, e->ctrl.server, sizeof(k.saddr));
		__builtin_memcpy(k.daddr, e->ctrl.client, sizeof(k.daddr));
	} else {
		__builtin_memcpy(k.saddr, e->ctrl.client, sizeof(k.saddr));
		__builtin_memcpy(k.daddr, e->ctrl.server, sizeof(k.daddr));
	}

	if (hole_own(&k, &e->ctrl, e->now, mode, 0)) {
		count(COUNTER_PINHOLE_REFRESHED);
		return;
	}
	if (!rate_ok(e)) {
		count(COUNTER_REJECT_RATE_LIMIT);
		return;
	}

	__u32 max = cfg.max_per_control;
	if (max < 1)
		max = 1;
	if (max > MAX_PER_CTRL)
		max = MAX_PER_CTRL;
	__u32 slot;
	if (st->nholes >= max) {
		slot = st->oldest & (MAX_PER_CTRL - 1);
		if (hole_own(&st->holes[slot], &e->ctrl, 0, 0, 1))
			count(COUNTER_PINHOLE_REPLACED);
		st->oldest = (slot + 1) % max;
	} else {
		slot = st->nholes & (MAX_PER_CTRL - 1);
		st->nholes++;
	}

	struct pinhole_val *v = &s->hole;
	__builtin_memset(v, 0, sizeof(*v));
	v->created_ns = e->now;
	v->expires_ns = e->now + cfg.pinhole_timeout_ns;
	v->mode = mode;
	v->ctrl = e->ctrl;
	if (pinhole_put(&k, v)) {
		count(COUNTER_REJECT_MAP_FULL);
		return;
	}
	st->holes[slot] = k;
	if (mode == MODE_ACTIVE)
		count(k.family == AF_INET ? COUNTER_PINHOLE_ACTIVE_V4 : COUNTER_PINHOLE_ACTIVE_V6);
	else
		count(k.family == AF_INET ? COUNTER_PINHOLE_PASSIVE_V4 : COUNTER_PINHOLE_PASSIVE_V6);
}

#define WORD(a, b, c, d) ((__u32)(a) | (__u32)(b) << 8 | (__u32)(c) << 16 | (__u32)(d) << 24)
#define UPPER 0xDFDFDFDF /* clears the lower-case bit of four letters */

static __always_inline int reply_code(__u32 w)
{
	__u8 a = w, b = w >> 8, c = w >> 16;
	if (!is_digit(a) || !is_digit(b) || !is_digit(c))
		return -1;
	return (a - '0') * 100 + (b - '0') * 10 + (c - '0');
}

static __always_inline int addr_equal(const __u32 *a, const __u32 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
}

/* A NUL, a Telnet IAC (0xFF) or a bare CR anywhere in [start, cr): peers
 * disagree on what such a line says (C strings end at NUL, Telnet-aware
 * servers strip IAC sequences, some clients end a line at CR), so an
 * announcing line holding one opens nothing. Global: verified once. */
__noinline int line_has_ctl(struct scratch *s, __u32 start, __u32 cr)
{
	if (!s)
		return 1;
	for (__u32 k = 0; k < LINE_MAX; k++) {
		__u32 i = start + k;
		if (i >= cr)
			break;
		__u8 c = CH(s, i);
		if (c == 0 || c == 0xff || c == '\r')
			return 1;
	}
	return 0;
}

/* Validates and acts on one PORT/EPRT/227/229 line [start, lf]. */
static __always_inline void announce(struct scratch *s, struct ctrl_state *st, struct line_env *e,
				     __u32 start, __u32 lf, __u32 kind)
{
	if (lf - start + 1 > LINE_MAX) {
		count(COUNTER_REJECT_OVERLONG);
		return;
	}
	if (CH(s, lf - 1) != '\r') {
		count(COUNTER_REJECT_NO_CRLF);
		return;
	}
	__u32 cr = lf - 1;
	if (line_has_ctl(s, start, cr)) {
		count(COUNTER_REJECT_MALFORMED);
		return;
	}
	struct ftp_arg a = {};
	int err;
	switch (kind) {
	case KIND_PORT:
		err = ftp_parse_port(s, start, cr, &a);
		break;
	case KIND_EPRT:
		err = ftp_parse_eprt(s, start, cr, e->ctrl.family, &a);
		break;
	case KIND_227:
		err = ftp_parse_227(s, start, cr, &a);
		break;
	default:
		err = ftp_parse_229(s, start, cr, &a);
		break;
	}
	if (err) {
		count(err);
		return;
	}
	if (kind != KIND_229) {
		if (a.family != e->ctrl.family) {
			count(COUNTER_REJECT_FAMILY_MISMATCH);
			return;
		}
		const __u32 *announcer = e->dir == 0 ? e->ctrl.client : e->ctrl.server;
		if (!addr_equal(a.addr, announcer) && !(kind == KIND_227 && cfg.loose)) {
			count(COUNTER_REJECT_ADDRESS_MISMATCH);
			return;
		}
	}
	if (a.port == 0 || a.port < cfg.min_port) {
		count(COUNTER_REJECT_LOW_PORT);
		return;
	}
	open_pinhole(s, st, e, a.port,
		     kind == KIND_PORT || kind == KIND_EPRT ? MODE_ACTIVE : MODE_PASSIVE);
}

static __always_inline void client_line(struct scratch *s, struct ctrl_state *st,
					struct line_env *e, __u32 start, __u32 lf, __u32 w)
{
	__u8 next = CH(s, start + 4);
	int eol = next == '\r' || next == '\n' || next == ' ';
	__u32 up = w & UPPER;

	if (up == WORD('P', 'O', 'R', 'T') && next == ' ') {
		count(COUNTER_LINE_PORT);
		announce(s, st, e, start, lf, KIND_PORT);
	} else if (up == WORD('E', 'P', 'R', 'T') && next == ' ') {
		count(COUNTER_LINE_EPRT);
		announce(s, st, e, start, lf, KIND_EPRT);
	} else if (up == WORD('P', 'A', 'S', 'V') && eol) {
		count(COUNTER_LINE_PASV);
		st->flags |= CTRL_PASV_PENDING;
	} else if (up == WORD('E', 'P', 'S', 'V') && eol) {
		count(COUNTER_LINE_EPSV);
		st->flags |= CTRL_EPSV_PENDING;
	} else if (up == WORD('A', 'U', 'T', 'H') && next == ' ') {
		count(COUNTER_LINE_AUTH);
		st->flags |= CTRL_AUTH_PENDING;
	} else if ((w == WORD('2', '2', '7', ' ') || w == WORD('2', '2', '9', ' '))) {
		count(COUNTER_REJECT_WRONG_DIRECTION);
	} else {
		e->lines_other++;
	}
}

/* A PORT or EPRT verb, which only a client may send. */
static __always_inline int up_is_command(__u32 w)
{
	__u32 up = w & UPPER;
	return up == WORD('P', 'O', 'R', 'T') || up == WORD('E', 'P', 'R', 'T');
}

static __always_inline void server_line(struct scratch *s, struct ctrl_state *st,
					struct line_env *e, __u32 start, __u32 lf, __u32 w)
{
	int code = reply_code(w);
	__u8 sep = w >> 24;
	int pasv = code == 227 || code == 229;

	if (st->flags & CTRL_MULTILINE) {
		/* Only "code SP" with the opening code ends a multi-line reply;
		 * nothing inside one is acted on, and a 227/229 never. The end
		 * line is the reply: it may accept AUTH or refuse a request. */
		int end = code == st->ml_code && sep == ' ';
		if (end)
			st->flags &= ~CTRL_MULTILINE;
		if (!end || pasv) {
			if (pasv)
				count(COUNTER_REJECT_MULTILINE);
			else
				e->lines_other++;
			return;
		}
	}
	if (code < 0) {
		if (up_is_command(w))
			count(COUNTER_REJECT_WRONG_DIRECTION);
		else
			e->lines_other++;
		return;
	}
	if (sep == '-') {
		st->flags |= CTRL_MULTILINE;
		st->ml_code = code;
		if (pasv)
			count(COUNTER_REJECT_MULTILINE);
		else
			e->lines_other++;
		return;
	}
	if (sep != ' ') {
		e->lines_other++;
		return;
	}
	if (code == 227 || code == 229) {
		__u8 want = code == 227 ? CTRL_PASV_PENDING : CTRL_EPSV_PENDING;
		count(code == 227 ? COUNTER_LINE_227 : COUNTER_LINE_229);
		if (cfg.require_request && !(st->flags & want)) {
			count(COUNTER_REJECT_NO_PENDING);
			return;
		}
		st->flags &= ~want;
		announce(s, st, e, start, lf, code == 227 ? KIND_227 : KIND_229);
		return;
	}
	if ((code == 234 || code == 334) && (st->flags & CTRL_AUTH_PENDING)) {
		count(COUNTER_LINE_234);
		st->flags = (st->flags & ~CTRL_AUTH_PENDING) | CTRL_TLS;
		count(COUNTER_TLS_SESSION);
		return;
	}
	/* A final error answers whatever was outstanding. */
	if (code >= 400)
		st->flags &= ~(CTRL_PASV_PENDING | CTRL_EPSV_PENDING | CTRL_AUTH_PENDING);
	e->lines_other++;
}

/* Acts on the line from e->line_start to the LF at lf, and moves
 * e->line_start past it. Global, so the verifier checks it once rather than
 * at every call site. */
__noinline int handle_line(struct scratch *s, struct ctrl_state *st, struct line_env *e, __u32 lf)
{
	if (!s || !st || !e)
		return 0;
	/* A reply line ends only at CRLF: what follows a bare LF (say,
	 * echoed client text) stays in its line. */
	if (e->dir == 1 && !(lf ? CH(s, lf - 1) == '\r' : e->prev_cr))
		return 0;
	__u32 start = e->line_start;
	e->line_start = lf + 1;
	if (e->skip_first) {
		e->skip_first = 0;
		count(COUNTER_LINE_PARTIAL);
		return 0;
	}
	if (st->flags & CTRL_TLS)
		return 0;
	/* A line of interest has four bytes of verb or code and one more. */
	if (lf < start + 4 || lf >= SCAN_MAX) {
		e->lines_other++;
		return 0;
	}
	__u32 w = *(__u32 *)&s->buf[start & SCAN_MASK];
	if (e->dir == 0)
		client_line(s, st, e, start, lf, w);
	else
		server_line(s, st, e, start, lf, w);
	return 0;
}

/* The top bit of every byte of v that is an LF, and of no other (SWAR: no
 * carry crosses a byte). */
static __always_inline __u64 lf_bytes(__u64 v)
{
	__u64 x = v ^ 0x0a0a0a0a0a0a0a0aULL;
	__u64 low = 0x7f7f7f7f7f7f7f7fULL;
	return ~(((x & low) + low) | x | low);
}

/* Finds the line ends of the segment a word at a time (lf_bytes) and hands
 * each line to handle_line; lines of no interest are counted by the caller. Global, so the verifier checks the loop once; a plain
 * loop, so no call per word. Returns where the unterminated tail starts (len
 * when the segment ends at a line end). */
__noinline __u32 scan_lines(struct scratch *s, struct ctrl_state *st, struct line_env *e, __u32 len)
{
	if (!s || !st || !e)
		return 0;
	for (__u32 w = 0; w < SCAN_MAX / 8; w++) {
		__u32 base = w * 8;
		if (base >= len)
			break;
		__u64 m = lf_bytes(s->words[w & (SCAN_MAX / 8 - 1)]);
		if (!m)
			continue;
		if (len - base < 8) /* bytes past the segment are stale */
			m &= (1ULL << (8 * (len - base))) - 1;
		/* One pass per LF, lowest first: the byte index of the lowest
		 * set bit (bit 8k+7) is the top byte of (1 << 8k) * C. */
#pragma unroll
		for (int j = 0; j < 8; j++) {
			if (!m)
				break;
			__u64 low = m & -m;
			handle_line(s, st, e, base + (((low >> 7) * 0x0001020304050607ULL) >> 56));
			m &= m - 1;
		}
	}
	return e->line_start;
}

static __always_inline int load_payload(void *ctx, int is_xdp, __u32 off, void *buf, __u32 len)
{
	if (is_xdp)
		return bpf_xdp_load_bytes(ctx, off, buf, len);
	return bpf_skb_load_bytes(ctx, off, buf, len);
}

static __always_inline void ctrl_key_of(struct flow *f, struct tcphdr *tcp, __u32 dir,
					struct ctrl_key *k)
{
	k->family = f->family;
	if (dir == 0) {
		__builtin_memcpy(k->client, f->saddr, sizeof(k->client));
		__builtin_memcpy(k->server, f->daddr, sizeof(k->server));
		k->cport = tcp->source;
		k->sport = tcp->dest;
	} else {
		__builtin_memcpy(k->client, f->daddr, sizeof(k->client));
		__builtin_memcpy(k->server, f->saddr, sizeof(k->server));
		k->cport = tcp->dest;
		k->sport = tcp->source;
	}
}

static __always_inline int new_ctrl_state(struct ctrl_key *k, __u64 flags)
{
	__u32 zero = 0;
	struct ctrl_state *tmpl = bpf_map_lookup_elem(&ctrl_template, &zero);
	if (!tmpl)
		return -1;
	return bpf_map_update_elem(&ctrl_conns, k, tmpl, flags);
}

/* How far ahead of the tracked position a segment may start and still move
 * it (a gap from reordering or loss). A segment further ahead is outside any
 * window a control connection uses: a forgery, which must not blind the
 * tracking of the real stream. */
#define SEQ_RESYNC_MAX 65536

/* Where a direction's stream stops after a segment ending in last, prev the
 * byte before it. Commands end at LF; replies only at CRLF. */
static __always_inline __u8 tail_of(__u32 dir, __u8 last, int prev_cr)
{
	if (last == '\r')
		return TAIL_CR;
	if (last == '\n' && (dir == 0 || prev_cr))
		return TAIL_LINE_START;
	return TAIL_MIDLINE;
}

/* Binds direction d of a control connection to the side of the gateway its
 * packets arrive from, learnt from the first one: the outside, or the local
 * side (inside ingress, this host's egress). The local side always wins, so
 * a forgery from the outside that came first is overruled; a direction bound
 * to the local side is never accepted from the outside again: that is an
 * outside host forging an inside host's address (XDP runs before
 * rp_filter). 0: refuse the packet. Global: verified once. */
__noinline int side_ok(struct ctrl_state *st, __u32 d)
{
	if (!st)
		return 0;
	__u8 b = SIDE_BOUND(d & 1), l = SIDE_LOCAL(d & 1);
	int local = cfg.role != ROLE_OUTSIDE;
	if (!local && (st->sides & l)) {
		count(COUNTER_REJECT_WRONG_SIDE);
		return 0;
	}
	st->sides = (st->sides & ~(b | l)) | b | (local ? l : 0);
	return 1;
}

/* The last TAIL_LEN bytes of a segment longer than the window are read to
 * find its last line. */
#define TAIL_LEN 128

/* Where the last line of s->buf[0, TAIL_LEN), which ends in CRLF, starts:
 * after the CRLF before it; -1 when that line is longer than the tail. A
 * word at a time from the end, so a short last line costs a few words.
 * Global: verified once. */
__noinline int last_line_start(struct scratch *s)
{
	if (!s)
		return -1;
	for (int k = 0; k < TAIL_LEN / 8; k++) {
		int w = TAIL_LEN / 8 - 1 - k;
		__u64 m = lf_bytes(s->words[w & (SCAN_MAX / 8 - 1)]);
		if (k == 0)
			m &= 0x0000ffffffffffffULL; /* not the segment's own CRLF */
		if (!m)
			continue;
#pragma unroll
		for (int b = 7; b >= 0; b--) {
			int i = w * 8 + b;
			if ((m & (0x80ULL << (8 * b))) && i >= 1 && CH(s, i - 1) == '\r')
				return i + 1;
		}
	}
	return -1;
}

static __always_inline void control(void *ctx, int is_xdp, struct flow *f, struct tcphdr *tcp,
				    __u32 payload_off, __u32 dir)
{
	struct line_env env = {};
	ctrl_key_of(f, tcp, dir, &env.ctrl);
	env.dir = dir;
	__u32 d = dir & 1;
	__u32 seq = bpf_ntohl(tcp->seq);
	struct ctrl_state *st;

	if (tcp->rst) {
		st = bpf_map_lookup_elem(&ctrl_conns, &env.ctrl);
		if (st && side_ok(st, d) && !bpf_map_delete_elem(&ctrl_conns, &env.ctrl))
			count(COUNTER_CTRL_CLOSED);
		return;
	}
	if (tcp->syn) {
		/* The handshake fixes where each direction's first line starts.
		 * A client SYN starts a fresh state for the 5-tuple. */
		st = bpf_map_lookup_elem(&ctrl_conns, &env.ctrl);
		if (st && !side_ok(st, d))
			return;
		if (dir == 0) {
			count(COUNTER_CTRL_OPENED);
			if (new_ctrl_state(&env.ctrl, BPF_ANY))
				return;
		}
		st = bpf_map_lookup_elem(&ctrl_conns, &env.ctrl);
		if (!st && !new_ctrl_state(&env.ctrl, BPF_NOEXIST))
			st = bpf_map_lookup_elem(&ctrl_conns, &env.ctrl);
		if (!st)
			return;
		side_ok(st, d);
		/* A client SYN from the outside puts the server on the local
		 * side before it has answered: its replies are never accepted
		 * from the outside, not even a forgery racing its SYN-ACK. */
		if (dir == 0 && cfg.role == ROLE_OUTSIDE)
			st->sides |= SIDE_BOUND(1) | SIDE_LOCAL(1);
		st->last_seen_ns = now_fast_ns();
		st->next_seq[d] = seq + 1;
		st->seq_known[d] = 1;
		return;
	}

	__u32 plen = f->l3end > payload_off ? f->l3end - payload_off : 0;
	if (plen == 0) {
		if (!tcp->fin)
			return;
		st = bpf_map_lookup_elem(&ctrl_conns, &env.ctrl);
		if (!st || !side_ok(st, d))
			return;
		goto fin;
	}
	count(COUNTER_CONTROL_SEGMENT);

	st = bpf_map_lookup_elem(&ctrl_conns, &env.ctrl);
	if (!st) {
		/* Picked up mid-stream (e.g. started after the login): trust
		 * this segment's start as a line start. */
		new_ctrl_state(&env.ctrl, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&ctrl_conns, &env.ctrl);
		if (!st)
			return;
	}
	if (!side_ok(st, d))
		return;
	if (st->flags & CTRL_TLS) {
		count(COUNTER_TLS_SEGMENT);
		goto fin;
	}
	st->last_seen_ns = now_fast_ns(); /* only the sweeper's idle test reads it */

	struct scratch *s;
	__u32 zero = 0;
	s = bpf_map_lookup_elem(&scratch_buf, &zero);
	if (!s)
		return;
	__u64 n = plen > SCAN_MAX ? SCAN_MAX : plen;
	barrier_var(n); /* keep clang from dropping the check the verifier needs */
	if (n < 1 || n > SCAN_MAX)
		return;
	if (load_payload(ctx, is_xdp, payload_off, s->buf, n))
		return;
	/* The last two bytes say where the stream stops. */
	__u8 last = s->buf[(n - 1) & SCAN_MASK];
	__u8 prev = s->buf[(n - 2) & SCAN_MASK]; /* n == 1: stale, unused */
	if (plen > SCAN_MAX) {
		count(COUNTER_CONTROL_TRUNCATED);
		__u8 tail[2];
		if (load_payload(ctx, is_xdp, payload_off + plen - 2, tail, 2))
			return;
		prev = tail[0];
		last = tail[1];
	}

	if (cfg.strict_seq && st->seq_known[d]) {
		__u32 expect = st->next_seq[d];
		if (seq != expect) {
			/* A retransmission or a gap: act on nothing in it. If it
			 * reaches past what was seen, and does not start further
			 * ahead than any window, resynchronise after it. */
			count(COUNTER_SEGMENT_OUT_OF_ORDER);
			if ((__s32)(seq + plen - expect) > 0 &&
			    (__s32)(seq - expect) <= SEQ_RESYNC_MAX) {
				st->next_seq[d] = seq + plen;
				st->midline[d] = tail_of(d, last, n >= 2 && prev == '\r');
			}
			goto fin;
		}
		env.skip_first = st->midline[d] != TAIL_LINE_START;
	}
	env.prev_cr = st->midline[d] == TAIL_CR;
	int prev_cr = n >= 2 ? prev == '\r' : env.prev_cr;

	if (scan_lines(s, st, &env, n) < n)
		count(COUNTER_LINE_PARTIAL);
	/* A reply longer than the window may end a multi-line reply in the
	 * unread part: read the segment's last line and treat it as a line,
	 * or the reply would never end for us and a later 227 would count
	 * as inside it. */
	if (plen > SCAN_MAX && d == 1 && (st->flags & CTRL_MULTILINE) && last == '\n' &&
	    prev == '\r' && !load_payload(ctx, is_xdp, payload_off + plen - TAIL_LEN, s->buf, TAIL_LEN)) {
		int ls = last_line_start(s);
		if (ls >= 0) {
			env.skip_first = 0;
			env.line_start = ls;
			handle_line(s, st, &env, TAIL_LEN - 1);
		}
	}
	if (env.lines_other)
		count_n(COUNTER_LINE_OTHER, env.lines_other);
	st->next_seq[d] = seq + plen;
	st->seq_known[d] = 1;
	st->midline[d] = tail_of(d, last, prev_cr);
fin:
	if (tcp->fin) {
		if (!bpf_map_delete_elem(&ctrl_conns, &env.ctrl))
			count(COUNTER_CTRL_CLOSED);
	}
}

/* Every drop on the outside goes through here: enforce mode drops, observe
 * mode passes and counts what it would have dropped. */
static __always_inline int deny(void)
{
	if (!cfg.observe)
		return VERDICT_DROP;
	count(COUNTER_PACKET_WOULD_DROP);
	return VERDICT_PASS;
}

enum fast { FAST_NONE, FAST_SYN_DONE, FAST_PASS, FAST_DENY };

/* Most packets in few instructions: an untagged IPv4 TCP segment with no
 * options and no fragment bits. Its SYN is checked here, and a segment of
 * no control connection is done here (FAST_PASS, FAST_DENY). Anything else
 * takes the full parser (FAST_NONE), which skips the SYN check after
 * FAST_SYN_DONE. Headers are read at fixed offsets from data, so little
 * stays live across the pinhole lookup. */
static __always_inline int fast_ipv4(void *data, void *data_end)
{
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct tcphdr *tcp = (void *)(ip + 1);
	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 ||
	    bpf_ntohs(ip->tot_len) < sizeof(*ip))
		return FAST_NONE;
	if (ip->protocol != IPPROTO_TCP)
		return FAST_PASS; /* what the full parser does with it, too */
	if ((void *)(tcp + 1) > data_end || (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET)) ||
	    tcp->doff < 5 || (void *)tcp + tcp->doff * 4 > data_end)
		return FAST_NONE;
	int done = FAST_NONE;
	if (cfg.role == ROLE_OUTSIDE && tcp->syn && !tcp->ack) {
		if (syn_check4(ip->saddr, ip->daddr, tcp) == VERDICT_DROP)
			return FAST_DENY;
		done = FAST_SYN_DONE;
	}
	if (is_ctrl_port(tcp->dest) || is_ctrl_port(tcp->source))
		return done;
	return FAST_PASS;
}

static __always_inline int process(void *ctx, int is_xdp, void *data, void *data_end)
{
	int fast = fast_ipv4(data, data_end);
	if (fast == FAST_PASS)
		return VERDICT_PASS;
	if (fast == FAST_DENY)
		return deny();

	struct cursor c = { .pos = data, .end = data_end };
	struct flow f = {};
	__be16 proto;
	int r;

	if (parse_ethhdr(&c, &proto) < 0) {
		count(COUNTER_UNPARSED_L2);
		return VERDICT_PASS;
	}
	if (proto == bpf_htons(ETH_P_IP))
		r = parse_ipv4hdr(&c, data, &f);
	else if (proto == bpf_htons(ETH_P_IPV6))
		r = parse_ipv6hdr(&c, data, &f);
	else
		return VERDICT_PASS;
	if (r < 0) {
		count(COUNTER_UNPARSED_L3);
		/* An IPv6 header chain too long to walk may hide a SYN from
		 * the filter: fail closed on the outside. */
		if (r == -2 && cfg.role == ROLE_OUTSIDE)
			return deny();
		return VERDICT_PASS;
	}
	if (f.l4proto != IPPROTO_TCP)
		return VERDICT_PASS;
	if (f.fragment) {
		count(COUNTER_FRAGMENT);
		if (r == 1 && cfg.role == ROLE_OUTSIDE) {
			count(COUNTER_TINY_FRAGMENT);
			return deny();
		}
		return VERDICT_PASS;
	}
	struct tcphdr *tcp = parse_tcphdr(&c);
	if (!tcp) {
		count(COUNTER_UNPARSED_L4);
		if (f.first_frag && cfg.role == ROLE_OUTSIDE) {
			count(COUNTER_TINY_FRAGMENT);
			return deny();
		}
		return VERDICT_PASS;
	}

	if (fast != FAST_SYN_DONE && cfg.role == ROLE_OUTSIDE && tcp->syn && !tcp->ack) {
		if (syn_check(&f, tcp) == VERDICT_DROP)
			return deny();
	}

	if (is_ctrl_port(tcp->dest))
		control(ctx, is_xdp, &f, tcp, c.pos - data, 0);
	else if (is_ctrl_port(tcp->source))
		control(ctx, is_xdp, &f, tcp, c.pos - data, 1);
	return VERDICT_PASS;
}

SEC("xdp")
int ftpxdp_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	if (process(ctx, 1, data, data_end) == VERDICT_DROP) {
		count(COUNTER_PACKET_DROP);
		return XDP_DROP;
	}
	count(COUNTER_PACKET_PASS);
	return XDP_PASS;
}

/* TCX: pass means "next", so programs after ours still run. */
SEC("tc")
int ftpxdp_tc(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	if (process(skb, 0, data, data_end) == VERDICT_DROP) {
		count(COUNTER_PACKET_DROP);
		return TC_ACT_SHOT;
	}
	count(COUNTER_PACKET_PASS);
	return TC_ACT_UNSPEC;
}

/* What Go asks of pintab4 (it cannot take the buckets' locks itself): one
 * operation in the frame of a BPF_PROG_TEST_RUN, its result written back. */
SEC("xdp")
int pintab_op(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct pt_op *op = data;
	if ((void *)(op + 1) > data_end)
		return XDP_ABORTED;
	struct pinhole_key4 k = op->key;
	switch (op->op) {
	case PT_OP_PUT:
	case PT_OP_PUT_NEW:
		op->ret = pt_put(&k, &op->val, cfg.max_pinholes, op->op == PT_OP_PUT);
		break;
	case PT_OP_DEL_CREATED:
		op->ret = pt_del(&k, op->arg, 1);
		break;
	case PT_OP_SWEEP: {
		struct pt_sweep sw = { .now = op->arg, .from = op->from };
		struct pt_meta *m = pt_meta();
		if (!m || op->count > PT_SWEEP_MAX)
			return XDP_ABORTED;
		bpf_loop(op->count, pt_sweep_bucket, &sw, 0);
		if (sw.unused + sw.used)
			__sync_fetch_and_add(&m->live, -(sw.unused + sw.used));
		op->unused = sw.unused;
		op->used = sw.used;
		op->ret = sw.unused + sw.used;
		break;
	}
	default:
		return XDP_ABORTED;
	}
	return XDP_PASS;
}
