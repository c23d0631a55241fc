package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// iperfServer is iperf3 listening in the server namespace.
type iperfServer struct {
	cmd *exec.Cmd
}

// startIperfServer starts iperf3 -s on the server and waits until it
// listens.
func (l *lab) startIperfServer() (*iperfServer, error) {
	cmd := l.server.Command("iperf3", "-s", "-B", serverAddr.String(), "-p", strconv.Itoa(iperfPort))
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start iperf3 server: %w", err)
	}
	s := &iperfServer{cmd: cmd}
	for deadline := time.Now().Add(10 * time.Second); ; {
		ok, err := l.server.listening(iperfPort)
		if err != nil || ok {
			if err != nil {
				s.Stop()
			}
			return s, err
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("iperf3 server not listening after 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop ends the iperf3 server (the process we started, by its PID).
func (s *iperfServer) Stop() error {
	s.cmd.Process.Kill()
	s.cmd.Wait()
	return nil
}

// listening reports whether a TCP socket listens on port in the namespace.
func (n *netNS) listening(port uint16) (bool, error) {
	var found bool
	err := n.Do(func() error {
		b, err := os.ReadFile("/proc/thread-self/net/tcp")
		if err != nil {
			return err
		}
		want := fmt.Sprintf(":%04X", port)
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) > 3 && strings.HasSuffix(f[1], want) && f[3] == "0A" {
				found = true
			}
		}
		return nil
	})
	return found, err
}

// iperfRun is one iperf3 TCP test from the client to the server.
type iperfRun struct {
	Gbps        float64 `json:"gbps"`
	Retransmits int     `json:"retransmits"`
}

// iperf runs one bounded iperf3 test through the gateway.
func (l *lab) iperf(seconds int) (iperfRun, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds+20)*time.Second)
	defer cancel()
	args := []string{"netns", "exec", l.client.Name, "iperf3", "-c", serverAddr.String(), "-p", strconv.Itoa(iperfPort),
		"-t", strconv.Itoa(seconds), "-O", "1", "-J"}
	out, err := exec.CommandContext(ctx, "ip", args...).Output()
	var rep struct {
		End struct {
			SumSent struct {
				Retransmits int `json:"retransmits"`
			} `json:"sum_sent"`
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if jerr := json.Unmarshal(out, &rep); jerr != nil {
		return iperfRun{}, fmt.Errorf("iperf3: %v: %v: %s", err, jerr, out)
	}
	if rep.Error != "" || err != nil {
		return iperfRun{}, fmt.Errorf("iperf3: %v %s", err, rep.Error)
	}
	return iperfRun{Gbps: rep.End.SumReceived.BitsPerSecond / 1e9, Retransmits: rep.End.SumSent.Retransmits}, nil
}
