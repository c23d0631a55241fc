package pinhole

import "net/netip"

// The argument grammar of bpf/ftp.h, line for line. Every function reads a
// line's text without its CRLF (the kernel's [start, cr)), so index i here is
// the kernel's i - start. Bounded loops keep the kernel's bounds: where the C
// stops after 8 spaces or 6 digits, so does this. The differential fuzz test
// (loader/fuzz_test.go) holds the two together.

// ScanMax is how many bytes of one control segment the kernel reads.
const ScanMax = 512

// LineMax is the longest PORT/EPRT/227/229 line, LF included, the kernel
// acts on; a longer one is rejected as overlong.
const LineMax = 128

// Kind is the kind of a line that announces a data connection.
type Kind uint8

// Kinds, with the values of the kernel's enum line_kind.
const (
	// KindPORT is "PORT h1,h2,h3,h4,p1,p2" from the client.
	KindPORT Kind = 1
	// KindEPRT is "EPRT |af|addr|port|" from the client.
	KindEPRT Kind = 2
	// Kind227 is "227 text h1,h2,h3,h4,p1,p2 ..." from the server.
	Kind227 Kind = 3
	// Kind229 is "229 text (|||port|) ..." from the server.
	Kind229 Kind = 4
)

// String returns the verb or reply code.
func (k Kind) String() string {
	switch k {
	case KindPORT:
		return "PORT"
	case KindEPRT:
		return "EPRT"
	case Kind227:
		return "227"
	case Kind229:
		return "229"
	}
	return "kind?"
}

// Arg is what an announcing line names: an address (invalid for a 229,
// which carries none) and a port.
type Arg struct {
	Addr netip.Addr
	Port uint16
}

// Parse reads the argument of one announcing line of kind k, text being the
// whole line without its CRLF (verb or code included). v6 is the control
// connection's family, which an EPRT must match. It returns "" or the reject
// reason: ReasonMalformed, ReasonRange or ReasonFamilyMismatch. Address and
// port checks against the control connection come after it (see Conn).
func Parse(k Kind, text []byte, v6 bool) (Arg, Reason) {
	switch k {
	case KindPORT:
		return parsePORT(text)
	case KindEPRT:
		return parseEPRT(text, v6)
	case Kind227:
		return parse227(text)
	case Kind229:
		return parse229(text)
	}
	return Arg{}, ReasonMalformed
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseDec reads 1..maxdig decimal digits at *i: ReasonMalformed without a
// digit, ReasonRange with more than maxdig (ftp.h parse_dec).
func parseDec(b []byte, i *int, maxdig int) (uint32, Reason) {
	var v uint32
	n := 0
	for range 6 {
		if *i >= len(b) || !isDigit(b[*i]) {
			break
		}
		if n == maxdig {
			return 0, ReasonRange
		}
		v = v*10 + uint32(b[*i]-'0')
		n++
		*i++
	}
	if n == 0 {
		return 0, ReasonMalformed
	}
	return v, ""
}

// parseHostPort reads h1,h2,h3,h4,p1,p2 of 1-3 digit numbers <= 255.
func parseHostPort(b []byte, i *int) (Arg, Reason) {
	var v [6]uint32
	for k := range v {
		if k > 0 {
			if *i >= len(b) || b[*i] != ',' {
				return Arg{}, ReasonMalformed
			}
			*i++
		}
		n, r := parseDec(b, i, 3)
		if r != "" {
			return Arg{}, r
		}
		if n > 255 {
			return Arg{}, ReasonRange
		}
		v[k] = n
	}
	return Arg{
		Addr: netip.AddrFrom4([4]byte{byte(v[0]), byte(v[1]), byte(v[2]), byte(v[3])}),
		Port: uint16(v[4]<<8 | v[5]),
	}, ""
}

func hexval(c byte) int {
	if isDigit(c) {
		return int(c - '0')
	}
	c |= 0x20
	if c >= 'a' && c <= 'f' {
		return int(c-'a') + 10
	}
	return -1
}

// parseIPv6Text reads RFC 4291 text without an embedded IPv4 or a zone:
// groups of 1-4 hex digits, at most one "::", up to term.
func parseIPv6Text(b []byte, i *int, term byte) (netip.Addr, Reason) {
	var g [8]uint16
	n, dc := 0, -1
	end := len(b)
	done := false
	if *i+1 < end && b[*i] == ':' {
		if b[*i+1] != ':' {
			return netip.Addr{}, ReasonMalformed
		}
		dc = 0
		*i += 2
		done = *i < end && b[*i] == term
	}
	for k := 0; k < 8 && !done; k++ {
		var v uint32
		nd := 0
		for range 5 {
			if *i >= end {
				break
			}
			h := hexval(b[*i])
			if h < 0 {
				break
			}
			if nd == 4 {
				return netip.Addr{}, ReasonMalformed
			}
			v = v<<4 | uint32(h)
			nd++
			*i++
		}
		if nd == 0 {
			return netip.Addr{}, ReasonMalformed
		}
		g[n&7] = uint16(v)
		n++
		if *i >= end {
			return netip.Addr{}, ReasonMalformed
		}
		c := b[*i]
		if c == term {
			done = true
			break
		}
		if c != ':' || n == 8 {
			return netip.Addr{}, ReasonMalformed
		}
		*i++
		if *i < end && b[*i] == ':' {
			if dc >= 0 {
				return netip.Addr{}, ReasonMalformed
			}
			dc = n
			*i++
			if *i < end && b[*i] == term {
				done = true
			}
		}
	}
	if !done {
		return netip.Addr{}, ReasonMalformed
	}
	if dc < 0 && n != 8 || dc >= 0 && n > 7 {
		return netip.Addr{}, ReasonMalformed
	}
	// Expand "::": the groups after it move to the end.
	tail := 0
	if dc >= 0 {
		tail = n - dc
	}
	head := n - tail
	var a [16]byte
	for k := range 8 {
		var r uint16
		if k < head {
			r = g[k]
		} else if k >= 8-tail {
			r = g[(k-(8-tail)+head)&7]
		}
		a[2*k], a[2*k+1] = byte(r>>8), byte(r)
	}
	return netip.AddrFrom16(a), ""
}

// skipSpaces skips at most 8 spaces, as the kernel does.
func skipSpaces(b []byte, i int) int {
	for range 8 {
		if i >= len(b) || b[i] != ' ' {
			break
		}
		i++
	}
	return i
}

// parsePORT: "PORT" SP+ h1,h2,h3,h4,p1,p2 SP*.
func parsePORT(b []byte) (Arg, Reason) {
	i := skipSpaces(b, 4)
	a, r := parseHostPort(b, &i)
	if r != "" {
		return Arg{}, r
	}
	if skipSpaces(b, i) != len(b) {
		return Arg{}, ReasonMalformed
	}
	return a, ""
}

// parse227: "227 " text, then h1,...,p2 from the first digit; anything may
// follow.
func parse227(b []byte) (Arg, Reason) {
	i := 4
	for range LineMax {
		if i >= len(b) {
			return Arg{}, ReasonMalformed
		}
		if isDigit(b[i]) {
			break
		}
		i++
	}
	return parseHostPort(b, &i)
}

// parseDelimitedPort reads "port d" with port <= 65535.
func parseDelimitedPort(b []byte, i *int, d byte) (uint16, Reason) {
	p, r := parseDec(b, i, 5)
	if r != "" {
		return 0, r
	}
	if p > 65535 {
		return 0, ReasonRange
	}
	if *i >= len(b) || b[*i] != d {
		return 0, ReasonMalformed
	}
	*i++
	return uint16(p), ""
}

func isDelimiter(d byte) bool { return d >= 33 && d <= 126 }

// parse229: "229 " text "(" d d d port d ")"; anything may follow.
func parse229(b []byte) (Arg, Reason) {
	i := 4
	for range LineMax {
		if i >= len(b) {
			return Arg{}, ReasonMalformed
		}
		if b[i] == '(' {
			break
		}
		i++
	}
	i++
	if i+3 > len(b) {
		return Arg{}, ReasonMalformed
	}
	d := b[i]
	if !isDelimiter(d) || b[i+1] != d || b[i+2] != d {
		return Arg{}, ReasonMalformed
	}
	i += 3
	p, r := parseDelimitedPort(b, &i, d)
	if r != "" {
		return Arg{}, r
	}
	if i >= len(b) || b[i] != ')' {
		return Arg{}, ReasonMalformed
	}
	return Arg{Port: p}, ""
}

// parseEPRT: "EPRT" SP+ d af d addr d port d SP*, af 1 (IPv4) or 2 (IPv6)
// and equal to the control connection's family.
func parseEPRT(b []byte, v6 bool) (Arg, Reason) {
	i := skipSpaces(b, 4)
	if i+3 > len(b) {
		return Arg{}, ReasonMalformed
	}
	d, af := b[i], b[i+1]
	if !isDelimiter(d) || b[i+2] != d {
		return Arg{}, ReasonMalformed
	}
	if af != '1' && af != '2' {
		return Arg{}, ReasonMalformed
	}
	if (af == '1') == v6 {
		return Arg{}, ReasonFamilyMismatch
	}
	i += 3
	var a Arg
	if af == '1' {
		var v [4]byte
		for k := range v {
			if k > 0 {
				if i >= len(b) || b[i] != '.' {
					return Arg{}, ReasonMalformed
				}
				i++
			}
			n, r := parseDec(b, &i, 3)
			if r != "" {
				return Arg{}, r
			}
			if n > 255 {
				return Arg{}, ReasonRange
			}
			v[k] = byte(n)
		}
		if i >= len(b) || b[i] != d {
			return Arg{}, ReasonMalformed
		}
		a.Addr = netip.AddrFrom4(v)
	} else {
		addr, r := parseIPv6Text(b, &i, d)
		if r != "" {
			return Arg{}, r
		}
		a.Addr = addr
	}
	i++ // the delimiter after the address
	p, r := parseDelimitedPort(b, &i, d)
	if r != "" {
		return Arg{}, r
	}
	if skipSpaces(b, i) != len(b) {
		return Arg{}, ReasonMalformed
	}
	a.Port = p
	return a, ""
}
