package replay

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
	"github.com/ftpxdp/ftpxdp/loader"
)

// manySessions is a capture of n active-mode sessions, 10 ms apart, of
// 7+data packets each: handshake, greeting, PORT, reply, the data SYN, and
// data segments.
func manySessions(n int) *session { return sessionsWithData(n, 3) }

func sessionsWithData(n, data int) *session {
	s := &session{}
	for i := range n {
		s.at(time.Duration(i) * 10 * time.Millisecond)
		client := fmt.Sprintf("10.%d.%d.%d", 1+i>>16&0xff, i>>8&0xff, i&0xff)
		c := s.dial(client+":40000", "198.51.100.10:21")
		c.reply("220 ready\r\n")
		c.send(fmt.Sprintf("PORT %s,156,65\r\n", dots(client)))
		c.reply("200 PORT command successful\r\n")
		s.syn("198.51.100.10:20", client+":40001")
		for range data {
			s.add(testutil.TCP{Src: c.server, Dst: c.client, ACK: true, Seq: 9, Payload: []byte("data")})
		}
	}
	return s
}

func dots(addr string) string {
	b := []byte(addr)
	for i := range b {
		if b[i] == '.' {
			b[i] = ','
		}
	}
	return string(b)
}

// BenchmarkReplay replays 100,000 packets: control-heavy sessions (ten
// packets each, the worst case), or transfers of 93 data segments.
func BenchmarkReplay(b *testing.B) {
	testutil.RequireKernel(b)
	for _, bc := range []struct {
		name           string
		sessions, data int
	}{
		{"control", 10000, 3},
		{"transfers", 1000, 93},
	} {
		b.Run(bc.name, func(b *testing.B) {
			capture := sessionsWithData(bc.sessions, bc.data).pcap(b, LinkTypeEthernet)
			b.ResetTimer()
			for range b.N {
				r, err := New(Options{Config: loader.DefaultConfig()})
				if err != nil {
					b.Fatal(err)
				}
				c, err := OpenCapture(bytes.NewReader(capture))
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				sum, err := r.Run(c, func(Event) error { return nil })
				elapsed := time.Since(start)
				r.Close()
				if err != nil {
					b.Fatal(err)
				}
				if sum.PinholesOpened != bc.sessions || sum.SYNsAdmitted != bc.sessions {
					b.Fatalf("summary %+v", sum)
				}
				b.ReportMetric(float64(elapsed.Nanoseconds())/float64(sum.Packets), "ns/packet")
				b.ReportMetric(float64(sum.Packets), "packets")
			}
		})
	}
}
