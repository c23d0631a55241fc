/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Header parsing in the xdp-tools style: a cursor that moves over the packet,
 * every header bounds-checked, -1 on failure. */
#ifndef FTPXDP_PARSING_H
#define FTPXDP_PARSING_H

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>

#include "common.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

#define IP_MF 0x2000
#define IP_OFFSET 0x1FFF
#define IPV6_EXT_MAX 4

struct cursor {
	void *pos;
	void *end;
};

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

/* The result of parsing one packet up to TCP. */
struct flow {
	__u8 family;
	__u8 l4proto;
	__u8 fragment;     /* 1: not the first fragment, no L4 header */
	__u8 first_frag;   /* 1: first fragment of a fragmented packet */
	__u32 saddr[4];
	__u32 daddr[4];
	__u32 l4off;       /* offset of the L4 header from the start of the frame */
	__u32 l3end;       /* offset of the end of the IP packet (excludes padding) */
};

static __always_inline int parse_ethhdr(struct cursor *c, __be16 *proto)
{
	struct ethhdr *eth = c->pos;
	if ((void *)(eth + 1) > c->end)
		return -1;
	c->pos = eth + 1;
	*proto = eth->h_proto;

	/* Up to two tags: 802.1ad outer and 802.1Q inner. */
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (*proto != bpf_htons(ETH_P_8021Q) && *proto != bpf_htons(ETH_P_8021AD))
			break;
		struct vlan_hdr *vh = c->pos;
		if ((void *)(vh + 1) > c->end)
			return -1;
		c->pos = vh + 1;
		*proto = vh->proto;
	}
	return 0;
}

static __always_inline int parse_ipv4hdr(struct cursor *c, void *start, struct flow *f)
{
	struct iphdr *ip = c->pos;
	if ((void *)(ip + 1) > c->end)
		return -1;
	__u32 hlen = ip->ihl * 4;
	if (hlen < sizeof(*ip))
		return -1;
	if (c->pos + hlen > c->end)
		return -1;
	__u32 tot = bpf_ntohs(ip->tot_len);
	if (tot < hlen)
		return -1;

	f->family = AF_INET;
	f->l4proto = ip->protocol;
	f->saddr[0] = ip->saddr;
	f->daddr[0] = ip->daddr;
	__u16 frag = bpf_ntohs(ip->frag_off);
	f->fragment = (frag & IP_OFFSET) != 0;
	f->first_frag = !f->fragment && (frag & IP_MF);
	f->l3end = (__u32)(c->pos - start) + tot;
	c->pos += hlen;
	f->l4off = c->pos - start;
	return (frag & IP_OFFSET) == 1 ? 1 : 0; /* 1: RFC 1858 overlapping fragment */
}

static __always_inline int parse_ipv6hdr(struct cursor *c, void *start, struct flow *f)
{
	struct ipv6hdr *ip6 = c->pos;
	if ((void *)(ip6 + 1) > c->end)
		return -1;
	f->family = AF_INET6;
	__builtin_memcpy(f->saddr, &ip6->saddr, 16);
	__builtin_memcpy(f->daddr, &ip6->daddr, 16);
	f->l3end = (__u32)(c->pos - start) + sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
	c->pos = ip6 + 1;

	__u8 next = ip6->nexthdr;
#pragma unroll
	for (int i = 0; i < IPV6_EXT_MAX; i++) {
		if (next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING ||
		    next == IPPROTO_DSTOPTS) {
			__u8 *h = c->pos;
			if ((void *)(h + 2) > c->end)
				return -1;
			next = h[0];
			c->pos += (h[1] + 1) * 8;
		} else if (next == IPPROTO_FRAGMENT) {
			__u8 *h = c->pos;
			if ((void *)(h + 8) > c->end)
				return -1;
			__u16 off = ((__u16)h[2] << 8 | h[3]);
			next = h[0];
			c->pos += 8;
			if (off & 0xFFF8) {
				f->fragment = 1;
				f->l4proto = next;
				return (off >> 3) == 1 ? 1 : 0;
			}
			f->first_frag = off & 1;
		} else if (next == IPPROTO_AH) {
			__u8 *h = c->pos;
			if ((void *)(h + 2) > c->end)
				return -1;
			next = h[0];
			c->pos += (h[1] + 2) * 4;
		} else {
			break;
		}
	}
	if (c->pos > c->end)
		return -1;
	/* More extension headers than we walk: what follows (maybe a TCP SYN)
	 * is unknown, and the receiver walks them all. */
	if (next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING || next == IPPROTO_DSTOPTS ||
	    next == IPPROTO_FRAGMENT || next == IPPROTO_AH)
		return -2;
	f->l4proto = next;
	f->l4off = c->pos - start;
	return 0;
}

static __always_inline struct tcphdr *parse_tcphdr(struct cursor *c)
{
	struct tcphdr *tcp = c->pos;
	if ((void *)(tcp + 1) > c->end)
		return 0;
	__u32 hlen = tcp->doff * 4;
	if (hlen < sizeof(*tcp))
		return 0;
	if (c->pos + hlen > c->end)
		return 0;
	c->pos += hlen;
	return tcp;
}

#endif
