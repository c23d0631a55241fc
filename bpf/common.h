/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Types shared between the kernel program and Go. bpf2go emits each of them
 * (-type) into loader/ftpxdp_bpfel.go, so nothing here is written twice. */
#ifndef FTPXDP_COMMON_H
#define FTPXDP_COMMON_H

#include <linux/types.h>

#define MAX_CTRL_PORTS 4   /* control ports settable before load */
#define MAX_PER_CTRL 8     /* ceiling for cfg.max_per_control */
#define MAX_IFACES 64      /* counter slots: one per attached program instance */
#define WAIT_BUCKETS 16    /* admission-wait histogram buckets (bounds set from Go) */
#define MAX_ALLOW_PORTS 8  /* distinct ports in allow rules, of each kind */

/* Capacities of the maps, documented in docs/ARCHITECTURE.md. */
#define PINHOLE_MAP_SIZE 1048576
#define CTRL_MAP_SIZE 65536
#define ALLOW_MAP_SIZE 256
#define RATE_MAP_SIZE 65536

/* Where a program instance sits. The loader fixes it per attachment. */
enum role {
	ROLE_INSIDE = 0,  /* ingress from the protected side: parse only */
	ROLE_OUTSIDE = 1, /* ingress from the untrusted side: parse and filter SYNs */
	ROLE_EGRESS = 2,  /* TC egress of a single host: parse its own replies */
};

enum pinhole_mode {
	MODE_ACTIVE = 1,  /* PORT/EPRT: the server connects to the client */
	MODE_PASSIVE = 2, /* 227/229: the client connects to the server */
};

/* Control-connection flags (struct ctrl_state.flags). */
/* Where a direction's stream stopped (struct ctrl_state.midline). */
enum line_tail {
	TAIL_LINE_START = 0, /* after a line end: the next byte starts a line */
	TAIL_MIDLINE = 1,    /* inside a line */
	TAIL_CR = 2,         /* inside a line, right after a CR */
};

/* Which side of the gateway a direction's packets arrive from
 * (struct ctrl_state.sides, two bits per direction d). */
#define SIDE_BOUND(d) (1 << (2 * (d))) /* learnt from a packet */
#define SIDE_LOCAL(d) (2 << (2 * (d))) /* inside ingress or host egress, not outside */

enum ctrl_flag {
	CTRL_PASV_PENDING = 1, /* PASV sent, 227 not yet seen */
	CTRL_EPSV_PENDING = 2, /* EPSV sent, 229 not yet seen */
	CTRL_AUTH_PENDING = 4, /* AUTH TLS/SSL sent, reply not yet seen */
	CTRL_TLS = 8,          /* AUTH accepted: the rest is ciphertext */
	CTRL_MULTILINE = 16,   /* inside a multi-line reply (xyz- ... xyz ) */
};

/* One slot per named reason; the Go side reads the names from BTF. Keep the
 * order stable only within a build: Go never hard-codes a value. */
enum counter {
	/* packet verdicts */
	COUNTER_PACKET_PASS = 0,
	COUNTER_PACKET_DROP,
	COUNTER_PACKET_WOULD_DROP, /* observe mode: enforce would have dropped */
	/* packets the parser could not follow (they pass) */
	COUNTER_UNPARSED_L2,
	COUNTER_UNPARSED_L3,
	COUNTER_UNPARSED_L4,
	COUNTER_FRAGMENT,
	COUNTER_TINY_FRAGMENT, /* RFC 1858 tiny/overlapping TCP fragment: dropped on outside */
	/* SYN decisions on the outside */
	COUNTER_SYN_ALLOWED_RULE,
	COUNTER_SYN_ALLOWED_PINHOLE,
	COUNTER_SYN_RETRANSMIT_GRACE, /* a repeated SYN admitted in the grace period */
	COUNTER_SYN_NO_PINHOLE,
	COUNTER_SYN_EXPIRED_PINHOLE,
	COUNTER_SYN_CONSUMED_PINHOLE, /* matched a pinhole already used by another port */
	/* control channel */
	COUNTER_CONTROL_SEGMENT,
	COUNTER_CONTROL_TRUNCATED, /* segment longer than the scan buffer: tail not read */
	COUNTER_LINE_PORT,
	COUNTER_LINE_EPRT,
	COUNTER_LINE_227,
	COUNTER_LINE_229,
	COUNTER_LINE_PASV,
	COUNTER_LINE_EPSV,
	COUNTER_LINE_AUTH,
	COUNTER_LINE_234,
	COUNTER_LINE_OTHER,
	COUNTER_LINE_PARTIAL, /* a line split across segments: not acted on */
	COUNTER_SEGMENT_OUT_OF_ORDER, /* not at the tracked line start: not acted on */
	COUNTER_TLS_SESSION,  /* control connections that switched to TLS */
	COUNTER_TLS_SEGMENT,  /* segments ignored because the session is TLS */
	COUNTER_CTRL_OPENED,
	COUNTER_CTRL_CLOSED,
	/* pinholes */
	COUNTER_PINHOLE_ACTIVE_V4,
	COUNTER_PINHOLE_ACTIVE_V6,
	COUNTER_PINHOLE_PASSIVE_V4,
	COUNTER_PINHOLE_PASSIVE_V6,
	COUNTER_PINHOLE_REFRESHED, /* the same pinhole announced again */
	COUNTER_PINHOLE_REPLACED,  /* per-control limit: the oldest was removed */
	/* rejects: a command or reply that opened nothing, by reason */
	COUNTER_REJECT_ADDRESS_MISMATCH,
	COUNTER_REJECT_LOW_PORT,
	COUNTER_REJECT_RANGE, /* an octet > 255 or a port > 65535 */
	COUNTER_REJECT_FAMILY_MISMATCH,
	COUNTER_REJECT_MALFORMED,
	COUNTER_REJECT_NO_CRLF,
	COUNTER_REJECT_OVERLONG,
	COUNTER_REJECT_MAP_FULL,
	COUNTER_REJECT_WRONG_DIRECTION, /* a reply from the client or a command from the server */
	COUNTER_REJECT_NO_PENDING,      /* 227/229 with no PASV/EPSV outstanding */
	COUNTER_REJECT_MULTILINE,       /* 227/229 inside a multi-line reply */
	COUNTER_REJECT_RATE_LIMIT,
	COUNTER_REJECT_WRONG_SIDE,      /* a control packet from the side its sender is not on */
	COUNTER_MAX,
};

/* Settings fixed before load (volatile const, set from Go). */
struct config {
	__u16 ctrl_ports[MAX_CTRL_PORTS]; /* host order; 0 = unused */
	__u16 min_port;                   /* lowest data port a pinhole may open */
	__u8 role;                        /* enum role */
	__u8 iface_slot;                  /* counter slot of this instance */
	__u8 observe;                     /* 1: never drop, count would_drop */
	__u8 loose;                       /* 1: accept a 227 naming another address */
	__u8 max_per_control;             /* outstanding pinholes per control connection */
	__u8 strict_seq;                  /* 1: act only at tracked line starts */
	__u64 pinhole_timeout_ns;         /* lifetime of an unused pinhole */
	__u64 syn_grace_ns;               /* how long a used pinhole admits a repeated SYN */
	__u64 rate_window_ns;             /* per-source creation rate window (0 = off) */
	__u32 rate_burst;                 /* pinholes a source may create per window */
	__u8 require_request;             /* 1: a 227/229 needs an outstanding PASV/EPSV */
	__u8 pad[3];
	__u64 wait_bounds_ns[WAIT_BUCKETS]; /* histogram upper bounds, ascending */
	/* Allow rules are fixed per load, so a SYN pays compares, not lookups:
	 * ports open to any address, and ports with per-address rules in the
	 * allow_rules map. Host order; 0 = unused. */
	__u16 allow_any_ports[MAX_ALLOW_PORTS];
	__u16 allow_addr_ports[MAX_ALLOW_PORTS];
	__u64 ns_per_jiffy; /* 1e9 / CONFIG_HZ, or 0 when the loader could not learn HZ */
	/* pintab4's hash (its pintab4_meta, copied so a SYN reads constants)
	 * and --max-pinholes, which its live count enforces. */
	__u64 pt_k1, pt_k2, pt_k3, pt_k4;
	__u32 pt_buckets;
	__u32 max_pinholes;
};

/* The pinhole: an exact match on the data connection's first SYN; the source
 * port is a wildcard, as in the Linux helper. Addresses are in network order,
 * IPv4 in addr[0] and the rest zero. */
struct pinhole_key {
	__u8 family; /* AF_INET or AF_INET6 */
	__u8 proto;  /* IPPROTO_TCP */
	__be16 dport;
	__u32 saddr[4];
	__u32 daddr[4];
};

/* An IPv4 pinhole's key in its own map: 12 bytes hash in a third of the
 * time of pinhole_key's 36, and every SYN pays that hash. */
struct pinhole_key4 {
	__be32 saddr;
	__be32 daddr;
	__be16 dport;
	__u16 pad; /* zero */
};

/* The control connection, always stored client -> server. */
struct ctrl_key {
	__u8 family;
	__u8 pad[3];
	__u32 client[4];
	__u32 server[4];
	__be16 cport;
	__be16 sport;
};

struct pinhole_val {
	__u64 created_ns;  /* bpf_ktime_get_ns() clock */
	__u64 expires_ns;  /* never admits at or after this */
	__u64 used_ns;     /* first admitted SYN, 0 while waiting */
	__u32 hits;        /* SYNs admitted */
	__u8 mode;         /* enum pinhole_mode */
	__u8 pad;
	__be16 used_sport; /* source port of the first admitted SYN */
	struct ctrl_key ctrl;
};

struct ctrl_state {
	__u64 last_seen_ns;
	__u32 next_seq[2];  /* [0] client->server, [1] server->client: next byte expected */
	__u8 seq_known[2];  /* next_seq[dir] is valid */
	__u8 midline[2];    /* enum line_tail: where the stream stopped in a line */
	__u8 flags;         /* enum ctrl_flag */
	__u8 nholes;        /* entries used in holes[] */
	__u8 oldest;        /* index of the oldest entry in holes[] */
	__u8 sides;         /* SIDE_BOUND/SIDE_LOCAL bits per direction */
	__u16 ml_code;      /* code of the open multi-line reply (CTRL_MULTILINE) */
	__u16 pad2;
	__u32 pad3;
	struct pinhole_key holes[MAX_PER_CTRL];
};

struct allow_key {
	__u8 family;
	__u8 proto;
	__be16 dport;
	__u32 daddr[4]; /* all zero: any address */
};

/* Per-source creation budget (a fixed window: rate_ok), keyed by address. */
struct rate_key {
	__u8 family;
	__u8 pad[3];
	__u32 addr[4];
};

struct rate_val {
	__u64 window_start_ns;
	__u32 count;
	__u32 pad;
};

#endif
