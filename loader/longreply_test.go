package loader

import (
	"strings"
	"testing"
)

// A multi-line reply longer than the 512 bytes the program reads, in one
// segment (a long login banner): its end line is in the unread part. The
// program reads the segment's last line, so the reply ends and the next
// 227 opens its pinhole; a reply whose last line does not end it keeps
// refusing a 227 as inside a multi-line reply.
func TestLongMultilineReplyEnds(t *testing.T) {
	banner := "230-Welcome\r\n" + strings.Repeat("230-  ASCII art, mirrors and rules of this server\r\n", 30)
	for _, tc := range []struct {
		name     string
		reply    string
		wantOpen bool
	}{
		{"ends in the unread tail", banner + "230 Login successful.\r\n", true},
		{"still open at the segment's end", banner, false},
		{"end line longer than the tail", banner + "230 " + strings.Repeat("x", 200) + "\r\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGW(t, DefaultConfig())
			c := g.passiveCtrl(pasClient, pasServer)
			c.handshake()
			c.s("220 ready\r\n")
			c.c("USER anonymous\r\n")
			c.s(tc.reply)
			c.c("PASV\r\n")
			before := g.counters()
			c.s("227 Entering Passive Mode (10,1,0,10,4,1)\r\n")
			want := map[string]uint64{"pinhole_passive_v4": 1, "reject_multiline": 0}
			if !tc.wantOpen {
				want = map[string]uint64{"pinhole_passive_v4": 0, "reject_multiline": 1}
			}
			expectDelta(t, before, g.counters(), want)
		})
	}
}
