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

// hostileSeedDir holds the readable seed scripts of FuzzHostileControl.
const hostileSeedDir = "../testdata/corpus/hostile"

// readHostileSeeds compiles every *.txt script in dir.
func readHostileSeeds(dir string) ([][]byte, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, fmt.Errorf("list seeds: %w", err)
	}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read seed: %w", err)
		}
		s, err := encodeHostile(b)
		if err != nil {
			return nil, fmt.Errorf("seed %s: %w", filepath.Base(f), err)
		}
		out = append(out, s)
	}
	return out, nil
}

// encodeHostile compiles a seed script into FuzzHostileControl's input.
// One operation a line, '#' starts a comment:
//
//	mode [passive] [v6] [alt]     first: the topology and settings
//	c "text" / s "text"           a client / server segment (Go-quoted)
//	c dict N                      dictionary payload N (hostileDict)
//	cfin "text"                   a segment with FIN
//	syn c / fin s / rst c         bare SYN (SYN-ACK for s), FIN, RST
//
// A direction may carry suffixes: "!" sends it into the other side's
// instance (a forgery), "@prev" at the previous segment's sequence number,
// "@+N" N bytes ahead (N < 256), "@far" a million bytes ahead.
//
//	probe active PORT             data SYN from the server to the client
//	probe passive PORT            data SYN from the client to the server
//	tick SECONDS                  move the clock
func encodeHostile(src []byte) ([]byte, error) {
	var out []byte
	sc := bufio.NewScanner(bytes.NewReader(src))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		b, err := encodeHostileLine(line, out == nil)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, b...)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	return out, nil
}

func encodeHostileLine(line string, first bool) ([]byte, error) {
	verb, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(rest)
	if first != (verb == "mode") {
		return nil, fmt.Errorf("a script starts with one mode line")
	}
	switch verb {
	case "mode":
		var m byte
		for _, w := range strings.Fields(rest) {
			bit, ok := map[string]byte{"active": 0, "passive": 1, "v4": 0, "v6": 2, "alt": 4}[w]
			if !ok {
				return nil, fmt.Errorf("unknown mode %q", w)
			}
			m |= bit
		}
		return []byte{m}, nil
	case "tick":
		v, err := strconv.ParseUint(rest, 10, 8)
		if err != nil {
			return nil, fmt.Errorf("tick: %w", err)
		}
		return []byte{opTick, byte(v)}, nil
	case "probe":
		kind, ps, _ := strings.Cut(rest, " ")
		p, err := strconv.ParseUint(ps, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("probe: %w", err)
		}
		op := map[string]byte{"active": opProbeActive, "passive": opProbePassive}[kind]
		if op == 0 {
			return nil, fmt.Errorf("probe active|passive PORT")
		}
		return []byte{op, byte(p >> 8), byte(p)}, nil
	case "syn", "fin", "rst":
		op, arg, err := encodeDir(rest)
		if err != nil {
			return nil, err
		}
		op |= map[string]byte{"syn": opSYN, "fin": opFIN, "rst": opRST}[verb]
		return append([]byte{op}, arg...), nil
	}
	kind := byte(opSegment)
	if d, ok := strings.CutSuffix(verb, "fin"); ok {
		kind, verb = opSegmentFIN, d
	}
	op, arg, err := encodeDir(verb)
	if err != nil {
		return nil, err
	}
	out := append([]byte{op | kind}, arg...)
	if n, ok := strings.CutPrefix(rest, "dict "); ok {
		i, err := strconv.ParseUint(n, 10, 7)
		if err != nil {
			return nil, fmt.Errorf("dict: %w", err)
		}
		return append(out, 0x80|byte(i)), nil
	}
	text, err := strconv.Unquote(rest)
	if err != nil {
		return nil, fmt.Errorf("payload %s: %w", rest, err)
	}
	if len(text) == 0 || len(text) > 127 {
		return nil, fmt.Errorf("payload of %d bytes: 1 to 127, or use dict", len(text))
	}
	return append(append(out, byte(len(text))), text...), nil
}

// encodeDir reads "c" or "s" with its suffixes into the operation's
// direction, forgery and sequence bits and the sequence argument.
func encodeDir(w string) (byte, []byte, error) {
	w, at, hasAt := strings.Cut(w, "@")
	var op byte
	if f, ok := strings.CutSuffix(w, "!"); ok {
		op, w = 0x20, f
	}
	switch w {
	case "c":
	case "s":
		op |= 0x10
	default:
		return 0, nil, fmt.Errorf("direction %q: c or s", w)
	}
	if !hasAt {
		return op, nil, nil
	}
	switch {
	case at == "prev":
		return op | 1<<6, nil, nil
	case at == "far":
		return op | 3<<6, []byte{0}, nil
	case strings.HasPrefix(at, "+"):
		n, err := strconv.ParseUint(at[1:], 10, 8)
		if err != nil || n == 0 {
			return 0, nil, fmt.Errorf("@+N: N from 1 to 256")
		}
		return op | 2<<6, []byte{byte(n - 1)}, nil
	}
	return 0, nil, fmt.Errorf("unknown @%s", at)
}
