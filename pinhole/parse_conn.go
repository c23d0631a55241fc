package pinhole

import (
	"bytes"
	"net/netip"
)

// The line logic of bpf/ftpxdp.c (control, handle_line, client_line,
// server_line, announce, open_pinhole), step for step: the same checks in the
// same order, the same counters in the same order.

// Direction is which way a control segment travels.
type Direction uint8

// Directions, with the kernel's dir values.
const (
	// ClientToServer carries commands.
	ClientToServer Direction = 0
	// ServerToClient carries replies.
	ServerToClient Direction = 1
)

// Segment is one TCP segment of a control connection.
type Segment struct {
	Dir           Direction
	Seq           uint32
	SYN, FIN, RST bool
	Payload       []byte
	// Outside says the segment arrived at an outside instance (else at an
	// inside or egress one): see Conn.sideOK.
	Outside bool
}

// Event is one thing the kernel counts while handling a segment.
type Event struct {
	// Reason is the counter the kernel increments.
	Reason Reason
	// Line is the line the event is about (without its LF), when there is
	// one; it is truncated to the bytes the kernel reads.
	Line []byte
	// Pinhole is the pinhole opened, refreshed or replaced (the removed one)
	// for the pinhole_* reasons.
	Pinhole Pinhole
}

// Control-connection flags, the kernel's enum ctrl_flag.
const (
	flagPASV      = 1
	flagEPSV      = 2
	flagAUTH      = 4
	flagTLS       = 8
	flagMultiline = 16
)

// maxPerControl is the kernel's MAX_PER_CTRL.
const maxPerControl = 8

// ResyncMax is the kernel's SEQ_RESYNC_MAX: an out-of-order segment moves
// the tracked position only if it starts at most this far ahead of it.
const ResyncMax = 65536

// Where a direction's stream stopped, the kernel's enum line_tail.
const (
	tailLineStart = 0
	tailMidline   = 1
	tailCR        = 2
)

// tailOf is ftpxdp.c tail_of: commands end at LF, replies only at CRLF.
func tailOf(d Direction, last byte, prevCR bool) uint8 {
	switch {
	case last == '\r':
		return tailCR
	case last == '\n' && (d == ClientToServer || prevCR):
		return tailLineStart
	}
	return tailMidline
}

type connState struct {
	nextSeq  [2]uint32
	seqKnown [2]bool
	midline  [2]uint8 // tail*
	sides    uint8    // sideBound/sideLocal bits per direction
	flags    uint8
	nholes   uint8
	oldest   uint8
	mlCode   uint16
	holes    [maxPerControl]Key
}

// Conn is one control connection of a Table, as the kernel's ctrl_conns
// entry tracks it.
type Conn struct {
	Control Control
	t       *Table
	st      *connState // nil: no entry in ctrl_conns
}

// Tracked reports whether the kernel would hold state for the connection.
func (c *Conn) Tracked() bool { return c.st != nil }

// TLS reports whether the connection switched to TLS (nothing more is read).
func (c *Conn) TLS() bool { return c.st != nil && c.st.flags&flagTLS != 0 }

func (c *Conn) v6() bool { return !c.Control.Client.Addr().Is4() }

type lineEnv struct {
	now       uint64
	dir       Direction
	skipFirst bool
	prevCR    bool // the byte before the segment was a CR
	buf       []byte
	ev        []Event
}

// sideOK is ftpxdp.c side_ok: it binds direction d to the side of the
// gateway its segments arrive from, the local side always winning, and
// refuses a segment from the outside in a direction bound to the local side
// (an outside host forging an inside host's address).
func (c *Conn) sideOK(e *lineEnv, d Direction, outside bool) bool {
	b, l := uint8(1)<<(2*d), uint8(2)<<(2*d)
	if outside && c.st.sides&l != 0 {
		e.count(ReasonWrongSide, nil)
		return false
	}
	c.st.sides = c.st.sides&^(b|l) | b
	if !outside {
		c.st.sides |= l
	}
	return true
}

func (e *lineEnv) count(r Reason, line []byte) {
	e.ev = append(e.ev, Event{Reason: r, Line: line})
}

// Segment runs one segment through the model at kernel time now and returns
// what the kernel counts for it, in order (packet verdict counters aside).
func (c *Conn) Segment(now uint64, s Segment) []Event {
	e := &lineEnv{now: now, dir: s.Dir}
	d := s.Dir & 1
	if s.RST {
		if c.st != nil && c.sideOK(e, d, s.Outside) {
			c.st = nil
			e.count(ReasonCtrlClosed, nil)
		}
		return e.ev
	}
	if s.SYN {
		if c.st != nil && !c.sideOK(e, d, s.Outside) {
			return e.ev
		}
		if s.Dir == ClientToServer {
			e.count(ReasonCtrlOpened, nil)
			c.st = &connState{}
		}
		if c.st == nil {
			c.st = &connState{}
		}
		c.sideOK(e, d, s.Outside)
		if s.Dir == ClientToServer && s.Outside {
			c.st.sides |= 1<<2 | 2<<2 // the server is on the local side
		}
		c.st.nextSeq[d] = s.Seq + 1
		c.st.seqKnown[d] = true
		return e.ev
	}
	plen := len(s.Payload)
	if plen > 0 {
		if !c.payload(e, s, plen) {
			return e.ev
		}
	} else if !s.FIN || c.st == nil || !c.sideOK(e, d, s.Outside) {
		return e.ev // a bare ACK is not looked at
	}
	if s.FIN && c.st != nil {
		c.st = nil
		e.count(ReasonCtrlClosed, nil)
	}
	return e.ev
}

// payload handles a segment with data; false: refused, FIN not looked at.
func (c *Conn) payload(e *lineEnv, s Segment, plen int) bool {
	e.count(ReasonControlSegment, nil)
	if c.st == nil {
		c.st = &connState{} // picked up mid-stream
	}
	st := c.st
	d := s.Dir & 1
	if !c.sideOK(e, d, s.Outside) {
		return false
	}
	if st.flags&flagTLS != 0 {
		e.count(ReasonTLSSegment, nil)
		return true
	}
	n := min(plen, ScanMax)
	e.buf = s.Payload[:n]
	last := s.Payload[plen-1]
	segCR := plen >= 2 && s.Payload[plen-2] == '\r'
	if plen > ScanMax {
		e.count(ReasonControlTruncated, nil)
	}
	if c.t.cfg.StrictSequence && st.seqKnown[d] {
		expect := st.nextSeq[d]
		if s.Seq != expect {
			e.count(ReasonOutOfOrder, nil)
			if int32(s.Seq+uint32(plen)-expect) > 0 && int32(s.Seq-expect) <= ResyncMax {
				st.nextSeq[d] = s.Seq + uint32(plen)
				st.midline[d] = tailOf(d, last, segCR)
			}
			return true
		}
		e.skipFirst = st.midline[d] != tailLineStart
	}
	e.prevCR = st.midline[d] == tailCR
	prevCR := segCR
	if plen < 2 {
		prevCR = e.prevCR
	}
	start := 0
	for i := range n {
		if e.buf[i] != '\n' {
			continue
		}
		// A reply line ends only at CRLF.
		if d == ServerToClient && !(i > 0 && e.buf[i-1] == '\r' || i == 0 && e.prevCR) {
			continue
		}
		c.handleLine(e, start, i)
		start = i + 1
	}
	if start < n {
		e.count(ReasonLinePartial, e.buf[start:n])
	}
	// ftpxdp.c: a reply longer than the window may end a multi-line reply
	// in the unread part; its last line is read and treated as a line.
	if plen > ScanMax && d == ServerToClient && st.flags&flagMultiline != 0 && last == '\n' && segCR {
		e.buf = s.Payload[plen-TailLen:]
		if ls := lastLineStart(e.buf); ls >= 0 {
			e.skipFirst = false
			c.handleLine(e, ls, TailLen-1)
		}
	}
	st.nextSeq[d] = s.Seq + uint32(plen)
	st.seqKnown[d] = true
	st.midline[d] = tailOf(d, last, prevCR)
	return true
}

func (c *Conn) handleLine(e *lineEnv, start, lf int) {
	line := e.buf[start:lf]
	if e.skipFirst {
		e.skipFirst = false
		e.count(ReasonLinePartial, line)
		return
	}
	if c.st.flags&flagTLS != 0 {
		return
	}
	if lf < start+4 {
		e.count(ReasonLineOther, line)
		return
	}
	if e.dir == ClientToServer {
		c.clientLine(e, start, lf)
	} else {
		c.serverLine(e, start, lf)
	}
}

// upper clears the lower-case bit of the four bytes, as the kernel's UPPER
// mask does.
func upper(w []byte) [4]byte {
	return [4]byte{w[0] &^ 0x20, w[1] &^ 0x20, w[2] &^ 0x20, w[3] &^ 0x20}
}

func (c *Conn) clientLine(e *lineEnv, start, lf int) {
	line := e.buf[start:lf]
	next := e.buf[start+4]
	eol := next == '\r' || next == '\n' || next == ' '
	up := upper(line[:4])
	switch {
	case up == [4]byte{'P', 'O', 'R', 'T'} && next == ' ':
		e.count(ReasonLinePORT, line)
		c.announce(e, start, lf, KindPORT)
	case up == [4]byte{'E', 'P', 'R', 'T'} && next == ' ':
		e.count(ReasonLineEPRT, line)
		c.announce(e, start, lf, KindEPRT)
	case up == [4]byte{'P', 'A', 'S', 'V'} && eol:
		e.count(ReasonLinePASV, line)
		c.st.flags |= flagPASV
	case up == [4]byte{'E', 'P', 'S', 'V'} && eol:
		e.count(ReasonLineEPSV, line)
		c.st.flags |= flagEPSV
	case up == [4]byte{'A', 'U', 'T', 'H'} && next == ' ':
		e.count(ReasonLineAUTH, line)
		c.st.flags |= flagAUTH
	case bytes.Equal(line[:4], []byte("227 ")) || bytes.Equal(line[:4], []byte("229 ")):
		e.count(ReasonWrongDirection, line)
	default:
		e.count(ReasonLineOther, line)
	}
}

func replyCode(w []byte) int {
	if !isDigit(w[0]) || !isDigit(w[1]) || !isDigit(w[2]) {
		return -1
	}
	return int(w[0]-'0')*100 + int(w[1]-'0')*10 + int(w[2]-'0')
}

func (c *Conn) serverLine(e *lineEnv, start, lf int) {
	line := e.buf[start:lf]
	code := replyCode(line)
	sep := line[3]
	pasv := code == 227 || code == 229
	st := c.st
	other := ReasonLineOther
	if pasv {
		other = ReasonMultiline
	}
	if st.flags&flagMultiline != 0 {
		// Only "code SP" with the opening code ends a multi-line reply;
		// nothing inside one is acted on, and a 227/229 never. The end
		// line is the reply: it may accept AUTH or refuse a request.
		end := code == int(st.mlCode) && sep == ' '
		if end {
			st.flags &^= flagMultiline
		}
		if !end || pasv {
			e.count(other, line)
			return
		}
	}
	if code < 0 {
		up := upper(line[:4])
		if up == [4]byte{'P', 'O', 'R', 'T'} || up == [4]byte{'E', 'P', 'R', 'T'} {
			e.count(ReasonWrongDirection, line)
		} else {
			e.count(ReasonLineOther, line)
		}
		return
	}
	if sep == '-' {
		st.flags |= flagMultiline
		st.mlCode = uint16(code)
		e.count(other, line)
		return
	}
	if sep != ' ' {
		e.count(ReasonLineOther, line)
		return
	}
	if pasv {
		want, r, k := uint8(flagPASV), ReasonLine227, Kind227
		if code == 229 {
			want, r, k = flagEPSV, ReasonLine229, Kind229
		}
		e.count(r, line)
		if c.t.cfg.RequireRequest && st.flags&want == 0 {
			e.count(ReasonNoPending, line)
			return
		}
		st.flags &^= want
		c.announce(e, start, lf, k)
		return
	}
	if (code == 234 || code == 334) && st.flags&flagAUTH != 0 {
		e.count(ReasonLine234, line)
		st.flags = st.flags&^flagAUTH | flagTLS
		e.count(ReasonTLSSession, line)
		return
	}
	// A final error answers whatever was outstanding.
	if code >= 400 {
		st.flags &^= flagPASV | flagEPSV | flagAUTH
	}
	e.count(ReasonLineOther, line)
}

// announce validates and acts on one PORT/EPRT/227/229 line [start, lf].
func (c *Conn) announce(e *lineEnv, start, lf int, k Kind) {
	line := e.buf[start:lf]
	if lf-start+1 > LineMax {
		e.count(ReasonOverlong, line)
		return
	}
	if e.buf[lf-1] != '\r' {
		e.count(ReasonNoCRLF, line)
		return
	}
	// NUL, Telnet IAC or a bare CR: peers disagree on what the line says.
	if bytes.ContainsAny(e.buf[start:lf-1], "\x00\r") || bytes.IndexByte(e.buf[start:lf-1], 0xff) >= 0 {
		e.count(ReasonMalformed, line)
		return
	}
	a, r := Parse(k, e.buf[start:lf-1], c.v6())
	if r != "" {
		e.count(r, line)
		return
	}
	if k != Kind229 {
		if a.Addr.Is4() != c.Control.Client.Addr().Is4() {
			e.count(ReasonFamilyMismatch, line)
			return
		}
		announcer := c.Control.Client.Addr()
		if e.dir == ServerToClient {
			announcer = c.Control.Server.Addr()
		}
		if a.Addr.As16() != announcer.As16() && !(k == Kind227 && c.t.cfg.Loose) {
			e.count(ReasonAddressMismatch, line)
			return
		}
	}
	if a.Port == 0 || a.Port < c.t.cfg.MinPort {
		e.count(ReasonLowPort, line)
		return
	}
	mode := Passive
	if k == KindPORT || k == KindEPRT {
		mode = Active
	}
	c.openPinhole(e, line, a.Port, mode)
}

// openPinhole is ftpxdp.c open_pinhole: the announcer is the sender of the
// line, the pinhole lets its peer in.
func (c *Conn) openPinhole(e *lineEnv, line []byte, port uint16, mode Mode) {
	t, st := c.t, c.st
	src, dst := c.Control.Server.Addr(), c.Control.Client.Addr()
	if e.dir == ServerToClient {
		src, dst = dst, src
	}
	k := Key{Source: src, Dest: netip.AddrPortFrom(dst, port)}
	timeout := uint64(t.cfg.PinholeTimeout)

	if cur, ok := t.holes[k]; ok && cur.Control == c.Control {
		cur.CreatedNs = e.now
		cur.ExpiresNs = e.now + timeout
		cur.UsedNs = 0
		cur.UsedSourcePort = 0
		cur.Mode = mode
		e.ev = append(e.ev, Event{Reason: ReasonRefreshed, Line: line, Pinhole: *cur})
		return
	}
	if !t.rateOK(c.Control.Client.Addr(), e.now) {
		e.count(ReasonRateLimit, line)
		return
	}

	limit := uint8(min(max(t.cfg.MaxPerControl, 1), maxPerControl))
	var slot uint8
	if st.nholes >= limit {
		slot = st.oldest & (maxPerControl - 1)
		if old, ok := t.holes[st.holes[slot]]; ok && old.Control == c.Control {
			delete(t.holes, st.holes[slot])
			e.ev = append(e.ev, Event{Reason: ReasonReplaced, Line: line, Pinhole: *old})
		}
		st.oldest = (slot + 1) % limit
	} else {
		slot = st.nholes & (maxPerControl - 1)
		st.nholes++
	}

	p := Pinhole{
		Source:    k.Source,
		Dest:      k.Dest,
		Mode:      mode,
		Control:   c.Control,
		CreatedNs: e.now,
		ExpiresNs: e.now + timeout,
	}
	if !t.put(p) {
		e.count(ReasonMapFull, line)
		return
	}
	st.holes[slot] = k
	r := ReasonActiveV4
	switch {
	case mode == Active && c.v6():
		r = ReasonActiveV6
	case mode == Passive && !c.v6():
		r = ReasonPassiveV4
	case mode == Passive:
		r = ReasonPassiveV6
	}
	e.ev = append(e.ev, Event{Reason: r, Line: line, Pinhole: p})
}

// TailLen is how many bytes at the end of a segment longer than ScanMax are
// read to find its last line (ftpxdp.c TAIL_LEN).
const TailLen = 128

// lastLineStart is ftpxdp.c last_line_start: where the last line of tail,
// which ends in CRLF, starts (after the CRLF before it), or -1 when that
// line is longer than the tail.
func lastLineStart(tail []byte) int {
	for i := TailLen - 3; i >= 1; i-- {
		if tail[i] == '\n' && tail[i-1] == '\r' {
			return i + 1
		}
	}
	return -1
}
