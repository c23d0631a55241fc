package loader

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A control script is what the differential fuzz test feeds to the kernel
// and to the reference: segments separated by NUL bytes, each an op byte
// and a payload.
//
//	C / S   client / server segment, in order
//	c / s   client / server segment resent at the previous segment's seq
//	G / H   client / server segment after a 7-byte gap
//	F       client segment with FIN
//	R       RST from the client (payload ignored)
//	Y       a new handshake (client SYN, server SYN-ACK)
//	A / P   data SYN, active (server -> client) / passive (client ->
//	        server), to the port the payload's digits name
//	T       advance the clock by the payload's digits in seconds
//	X       client segment in order, forged on the outside (gateway mode)
//
// Any other op byte is a client (even) or server (odd) segment in order.
// In a payload, 0x01 0x02 stands for NUL and 0x01 0x03 for 0x01.
//
// Packets arrive at the outside program, except in gateway mode, where the
// client's control packets arrive at the inside one (a gateway in front of
// FTP clients).
//
// The seed files in testdata/corpus/control/*.txt write scripts as text:
// "# comment", "mode v6 alt nohandshake tc gateway" (any of them), and one segment
// per line: an op letter, a space, then the payload, to which CRLF is added;
// or the op letter, a space and a Go-quoted string, taken exactly.

// scriptMode bits: the fuzz test's first argument.
const (
	modeV6          = 1 << iota // an IPv6 control connection
	modeAlt                     // the alternative settings (see fuzzConfigs)
	modeNoHandshake             // picked up mid-stream
	modeTC                      // the TC program instead of XDP
	modeGateway                 // the client's control packets at the inside program
)

// seedScript is one seed file read into the fuzz test's arguments.
type seedScript struct {
	name   string
	mode   uint8
	script []byte
}

// readSeeds reads every *.txt script under dir.
func readSeeds(dir string) ([]seedScript, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, fmt.Errorf("list seeds: %w", err)
	}
	var out []seedScript
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read seed: %w", err)
		}
		mode, script, err := parseSeed(b)
		if err != nil {
			return nil, fmt.Errorf("seed %s: %w", filepath.Base(f), err)
		}
		out = append(out, seedScript{name: filepath.Base(f), mode: mode, script: script})
	}
	return out, nil
}

func parseSeed(b []byte) (uint8, []byte, error) {
	var (
		mode   uint8
		script [][]byte
	)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
			continue
		case strings.HasPrefix(line, "mode "):
			for _, w := range strings.Fields(line)[1:] {
				bit, ok := map[string]uint8{"v4": 0, "v6": modeV6, "alt": modeAlt, "nohandshake": modeNoHandshake, "tc": modeTC, "xdp": 0, "gateway": modeGateway}[w]
				if !ok {
					return 0, nil, fmt.Errorf("line %d: unknown mode %q", n, w)
				}
				mode |= bit
			}
			continue
		}
		if len(line) < 2 || line[1] != ' ' {
			return 0, nil, fmt.Errorf("line %d: want an op letter and a space: %q", n, line)
		}
		payload := []byte(line[2:] + "\r\n")
		if strings.HasPrefix(line[2:], `"`) {
			s, err := strconv.Unquote(line[2:])
			if err != nil {
				return 0, nil, fmt.Errorf("line %d: %w", n, err)
			}
			payload = []byte(s)
		}
		script = append(script, append([]byte{line[0]}, escapePayload(payload)...))
	}
	if err := sc.Err(); err != nil {
		return 0, nil, err
	}
	return mode, bytes.Join(script, []byte{0}), nil
}

// digits reads the leading decimal number of b (0 when none, capped).
func digits(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' || v > 1e9 {
			break
		}
		v = v*10 + uint64(c-'0')
	}
	return v
}

// escapePayload writes NUL and 0x01 as the script's escapes.
func escapePayload(b []byte) []byte {
	var out []byte
	for _, c := range b {
		if c <= 1 {
			out = append(out, 1, c+2)
			continue
		}
		out = append(out, c)
	}
	return out
}

// unescapePayload reads the script's escapes back.
func unescapePayload(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == 1 && i+1 < len(b) && (b[i+1] == 2 || b[i+1] == 3) {
			out = append(out, b[i+1]-2)
			i++
			continue
		}
		out = append(out, b[i])
	}
	return out
}
