package lab

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// ctl is a hand-driven FTP control connection, for the commands no real
// client sends (a PORT naming another host or a low port).
type ctl struct {
	c net.Conn
	r *bufio.Reader
}

// dialCtl connects from ns and logs in anonymously.
func dialCtl(ns *NS, server netip.AddrPort) (*ctl, error) {
	var c net.Conn
	if err := ns.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", server.String(), 2*time.Second)
		return err
	}); err != nil {
		return nil, err
	}
	f := &ctl{c: c, r: bufio.NewReader(c)}
	if _, err := f.reply(); err != nil {
		c.Close()
		return nil, err
	}
	for _, cmd := range []string{"USER anonymous", "PASS lab@ftpxdp.invalid"} {
		if _, err := f.cmd(cmd); err != nil {
			c.Close()
			return nil, err
		}
	}
	return f, nil
}

// cmd sends one command and returns the final line of its reply; a 4xx or
// 5xx reply is an error.
func (f *ctl) cmd(line string) (string, error) {
	f.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := f.c.Write([]byte(line + "\r\n")); err != nil {
		return "", err
	}
	r, err := f.reply()
	if err == nil && (r[0] == '4' || r[0] == '5') {
		err = fmt.Errorf("%s: %s", line, r)
	}
	return r, err
}

// reply reads a reply, multi-line ones to their last line.
func (f *ctl) reply() (string, error) {
	f.c.SetDeadline(time.Now().Add(10 * time.Second))
	var code string
	for {
		l, err := f.r.ReadString('\n')
		if err != nil {
			return "", fmt.Errorf("read reply: %w", err)
		}
		l = strings.TrimRight(l, "\r\n")
		if len(l) < 4 {
			continue
		}
		if code == "" {
			code = l[:3]
		}
		if l[:3] == code && l[3] == ' ' {
			return l, nil
		}
	}
}

func (f *ctl) close() { f.c.Close() }

// portCommand is PORT for IPv4 and EPRT for IPv6, naming a.
func portCommand(a netip.AddrPort) string {
	if a.Addr().Is4() {
		b := a.Addr().As4()
		return fmt.Sprintf("PORT %d,%d,%d,%d,%d,%d", b[0], b[1], b[2], b[3], a.Port()>>8, a.Port()&0xff)
	}
	return fmt.Sprintf("EPRT |2|%s|%d|", a.Addr(), a.Port())
}

// dataListener listens in ns at a and reports whether a connection came.
type dataListener struct {
	ln  net.Listener
	got chan struct{}
}

func listenData(ns *NS, a netip.AddrPort) (*dataListener, error) {
	var ln net.Listener
	if err := ns.Do(func() (err error) {
		ln, err = net.Listen("tcp", a.String())
		return err
	}); err != nil {
		return nil, err
	}
	d := &dataListener{ln: ln, got: make(chan struct{}, 1)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
			select {
			case d.got <- struct{}{}:
			default:
			}
		}
	}()
	return d, nil
}

// arrived waits up to d for a connection.
func (d *dataListener) arrived(wait time.Duration) bool {
	select {
	case <-d.got:
		return true
	case <-time.After(wait):
		return false
	}
}

func (d *dataListener) close() { d.ln.Close() }
