/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The FTP argument grammar. pinhole/parse.go is the Go reference with the
 * same semantics; the differential fuzz test holds them together, so any
 * change here is a change there. */
#ifndef FTPXDP_FTP_H
#define FTPXDP_FTP_H

#include "common.h"

#define SCAN_MAX 512  /* bytes of one control segment the program reads */
#define SCAN_MASK (SCAN_MAX - 1)
#define LINE_MAX 128  /* a PORT/EPRT/227/229 line longer than this is overlong */

/* Scratch space for one control segment, one per CPU. The tail pad lets a
 * 4- or 8-byte load at any masked offset stay inside the value. The line
 * scan reads words: typed as such, each is one load, not eight. */
struct scratch {
	union {
		char buf[SCAN_MAX + 16];
		__u64 words[(SCAN_MAX + 16) / 8];
	};
	/* A new pinhole's value is built here: on the stack it would push
	 * the deepest call chain past the verifier's 512 bytes. */
	struct pinhole_val hole;
};

enum line_kind {
	KIND_PORT = 1,
	KIND_EPRT = 2,
	KIND_227 = 3,
	KIND_229 = 4,
};

/* What a line announced. */
struct ftp_arg {
	__u32 addr[4]; /* network order; IPv4 in addr[0] */
	__u16 port;    /* host order */
	__u8 family;   /* AF_INET, AF_INET6, or 0 (229: no address) */
	__u8 pad;
};

#define CH(s, i) ((__u8)(s)->buf[(i) & SCAN_MASK])

static __always_inline int is_digit(__u8 c)
{
	return c >= '0' && c <= '9';
}

/* Reads 1..maxdig decimal digits at *i (< end). 0: ok; MALFORMED: no digit;
 * RANGE: more digits than maxdig. */
static __always_inline int parse_dec(struct scratch *s, __u32 *i, __u32 end, __u32 maxdig,
				     __u32 *val)
{
	__u32 v = 0, n = 0;
#pragma unroll
	for (int k = 0; k < 6; k++) {
		if (*i >= end)
			break;
		__u8 c = CH(s, *i);
		if (!is_digit(c))
			break;
		if (n == maxdig)
			return COUNTER_REJECT_RANGE;
		v = v * 10 + (c - '0');
		n++;
		(*i)++;
	}
	if (n == 0)
		return COUNTER_REJECT_MALFORMED;
	if (n > maxdig)
		return COUNTER_REJECT_RANGE;
	*val = v;
	return 0;
}

/* h1,h2,h3,h4,p1,p2 with 1-3 digit numbers <= 255. */
static __always_inline int parse_hostport(struct scratch *s, __u32 *i, __u32 end, struct ftp_arg *out)
{
	__u32 v[6] = {};
	int err;
	for (int k = 0; k < 6; k++) {
		if (k > 0) {
			if (*i >= end || CH(s, *i) != ',')
				return COUNTER_REJECT_MALFORMED;
			(*i)++;
		}
		err = parse_dec(s, i, end, 3, &v[k]);
		if (err)
			return err;
		if (v[k] > 255)
			return COUNTER_REJECT_RANGE;
	}
	out->family = AF_INET;
	out->addr[0] = bpf_htonl(v[0] << 24 | v[1] << 16 | v[2] << 8 | v[3]);
	out->port = v[4] << 8 | v[5];
	return 0;
}

static __always_inline int hexval(__u8 c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* RFC 4291 text without an embedded IPv4 or a zone: groups of 1-4 hex
 * digits, at most one "::". Stops at term. */
static __always_inline int parse_ipv6_text(struct scratch *s, __u32 *i, __u32 end, __u8 term,
				      struct ftp_arg *out)
{
	__u16 g[8] = {};
	int n = 0, dc = -1;

	if (*i + 1 < end && CH(s, *i) == ':') {
		if (CH(s, *i + 1) != ':')
			return COUNTER_REJECT_MALFORMED;
		dc = 0;
		*i += 2;
		if (*i < end && CH(s, *i) == term)
			goto done;
	}
	for (int k = 0; k < 8; k++) {
		__u32 v = 0, nd = 0;
		for (int d = 0; d < 5; d++) {
			if (*i >= end)
				break;
			int h = hexval(CH(s, *i));
			if (h < 0)
				break;
			if (nd == 4)
				return COUNTER_REJECT_MALFORMED;
			v = v << 4 | h;
			nd++;
			(*i)++;
		}
		if (nd == 0)
			return COUNTER_REJECT_MALFORMED;
		g[n & 7] = v;
		n++;
		if (*i >= end)
			return COUNTER_REJECT_MALFORMED;
		__u8 c = CH(s, *i);
		if (c == term)
			goto done;
		if (c != ':' || n == 8)
			return COUNTER_REJECT_MALFORMED;
		(*i)++;
		if (*i < end && CH(s, *i) == ':') {
			if (dc >= 0)
				return COUNTER_REJECT_MALFORMED;
			dc = n;
			(*i)++;
			if (*i < end && CH(s, *i) == term)
				goto done;
		}
	}
	return COUNTER_REJECT_MALFORMED;
done:
	if (dc < 0 && n != 8)
		return COUNTER_REJECT_MALFORMED;
	if (dc >= 0 && n > 7)
		return COUNTER_REJECT_MALFORMED;
	/* Expand "::": groups after it move to the end. */
	__u16 r[8] = {};
	int tail = dc < 0 ? 0 : n - dc;
	int head = n - tail;
#pragma unroll
	for (int k = 0; k < 8; k++) {
		if (k < head)
			r[k] = g[k];
		else if (k >= 8 - tail)
			r[k] = g[(k - (8 - tail) + head) & 7];
	}
#pragma unroll
	for (int k = 0; k < 4; k++)
		out->addr[k] = bpf_htonl((__u32)r[2 * k] << 16 | r[2 * k + 1]);
	out->family = AF_INET6;
	return 0;
}

static __always_inline __u32 skip_spaces(struct scratch *s, __u32 i, __u32 end)
{
#pragma unroll
	for (int k = 0; k < 8; k++) {
		if (i >= end || CH(s, i) != ' ')
			break;
		i++;
	}
	return i;
}

/* "PORT" SP+ h1,h2,h3,h4,p1,p2 SP* CRLF */
__noinline int ftp_parse_port(struct scratch *s, __u32 start, __u32 cr, struct ftp_arg *out)
{
	if (!s || !out)
		return COUNTER_REJECT_MALFORMED;
	__u32 i = skip_spaces(s, start + 4, cr);
	int err = parse_hostport(s, &i, cr, out);
	if (err)
		return err;
	i = skip_spaces(s, i, cr);
	return i == cr ? 0 : COUNTER_REJECT_MALFORMED;
}

/* "227 " text, then h1,...,p2 from the first digit; anything may follow. */
__noinline int ftp_parse_227(struct scratch *s, __u32 start, __u32 cr, struct ftp_arg *out)
{
	if (!s || !out)
		return COUNTER_REJECT_MALFORMED;
	__u32 i = start + 4;
	for (int k = 0; k < LINE_MAX; k++) {
		if (i >= cr)
			return COUNTER_REJECT_MALFORMED;
		if (is_digit(CH(s, i)))
			break;
		i++;
	}
	return parse_hostport(s, &i, cr, out);
}

/* d d d port d, with d in 33..126. 0: ok. */
static __always_inline int parse_delimited_port(struct scratch *s, __u32 *i, __u32 end, __u8 d,
						struct ftp_arg *out)
{
	__u32 port;
	int err = parse_dec(s, i, end, 5, &port);
	if (err)
		return err;
	if (port > 65535)
		return COUNTER_REJECT_RANGE;
	if (*i >= end || CH(s, *i) != d)
		return COUNTER_REJECT_MALFORMED;
	(*i)++;
	out->port = port;
	return 0;
}

/* "229 " text "(" d d d port d ")"; anything may follow. */
__noinline int ftp_parse_229(struct scratch *s, __u32 start, __u32 cr, struct ftp_arg *out)
{
	if (!s || !out)
		return COUNTER_REJECT_MALFORMED;
	__u32 i = start + 4;
	for (int k = 0; k < LINE_MAX; k++) {
		if (i >= cr)
			return COUNTER_REJECT_MALFORMED;
		if (CH(s, i) == '(')
			break;
		i++;
	}
	i++;
	if (i + 3 > cr)
		return COUNTER_REJECT_MALFORMED;
	__u8 d = CH(s, i);
	if (d < 33 || d > 126 || CH(s, i + 1) != d || CH(s, i + 2) != d)
		return COUNTER_REJECT_MALFORMED;
	i += 3;
	int err = parse_delimited_port(s, &i, cr, d, out);
	if (err)
		return err;
	if (i >= cr || CH(s, i) != ')')
		return COUNTER_REJECT_MALFORMED;
	out->family = 0;
	return 0;
}

/* "EPRT" SP+ d af d addr d port d SP* CRLF, af 1 (IPv4) or 2 (IPv6) and equal
 * to the control connection's family. */
__noinline int ftp_parse_eprt(struct scratch *s, __u32 start, __u32 cr, __u32 family,
			      struct ftp_arg *out)
{
	if (!s || !out)
		return COUNTER_REJECT_MALFORMED;
	__u32 i = skip_spaces(s, start + 4, cr);
	if (i + 3 > cr)
		return COUNTER_REJECT_MALFORMED;
	__u8 d = CH(s, i);
	__u8 af = CH(s, i + 1);
	if (d < 33 || d > 126 || CH(s, i + 2) != d)
		return COUNTER_REJECT_MALFORMED;
	if (af != '1' && af != '2')
		return COUNTER_REJECT_MALFORMED;
	if ((af == '1') != (family == AF_INET))
		return COUNTER_REJECT_FAMILY_MISMATCH;
	i += 3;
	int err;
	if (af == '1') {
		__u32 v[4] = {};
		for (int k = 0; k < 4; k++) {
			if (k > 0) {
				if (i >= cr || CH(s, i) != '.')
					return COUNTER_REJECT_MALFORMED;
				i++;
			}
			err = parse_dec(s, &i, cr, 3, &v[k]);
			if (err)
				return err;
			if (v[k] > 255)
				return COUNTER_REJECT_RANGE;
		}
		if (i >= cr || CH(s, i) != d)
			return COUNTER_REJECT_MALFORMED;
		out->family = AF_INET;
		out->addr[0] = bpf_htonl(v[0] << 24 | v[1] << 16 | v[2] << 8 | v[3]);
	} else {
		err = parse_ipv6_text(s, &i, cr, d, out);
		if (err)
			return err;
	}
	i++; /* the delimiter after the address */
	err = parse_delimited_port(s, &i, cr, d, out);
	if (err)
		return err;
	i = skip_spaces(s, i, cr);
	return i == cr ? 0 : COUNTER_REJECT_MALFORMED;
}

#endif
