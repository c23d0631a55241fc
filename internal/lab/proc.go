package lab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Proc is a long-running process the lab started (a server, the daemon,
// tcpdump). It is stopped by its PID in t.Cleanup if not before.
type Proc struct {
	// Name is what the process is, for messages.
	Name string
	// Log is the file its standard output and error go to.
	Log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	// pidNS: the command is `unshare --pid --fork`, which ignores SIGTERM;
	// Stop kills the namespace's first process instead, which takes every
	// other process of the namespace with it.
	pidNS bool
	// stopped: Stop ended it, so its exit status is ours, not a failure.
	stopped bool
}

// startProc starts cmd with its output in logPath.
func startProc(t testing.TB, name string, cmd *exec.Cmd, logPath string) (*Proc, error) {
	t.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Logf("stop %s: %v", name, err)
		}
	})
	return p, nil
}

// PID is the process's id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended, and how.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Signal sends sig to the process by its PID.
func (p *Proc) Signal(sig syscall.Signal) error {
	if done, _ := p.Exited(); done {
		return nil
	}
	return syscall.Kill(p.PID(), sig)
}

// Wait waits up to d for the process to end.
func (p *Proc) Wait(d time.Duration) error {
	select {
	case <-p.done:
		return nil
	case <-time.After(d):
		return fmt.Errorf("%s (pid %d) still running after %s", p.Name, p.PID(), d)
	}
}

// Stop ends the process: SIGTERM, then SIGKILL after five seconds. A
// process stopped this way is not an error; one that had failed is.
func (p *Proc) Stop() error {
	if done, err := p.Exited(); done {
		if p.stopped {
			return nil
		}
		return exitError(err)
	}
	p.stopped = true
	if p.pidNS {
		for _, c := range children(p.PID()) {
			syscall.Kill(c, syscall.SIGKILL)
		}
		if p.Wait(5*time.Second) == nil {
			return nil
		}
	}
	syscall.Kill(p.PID(), syscall.SIGTERM)
	if p.Wait(5*time.Second) != nil {
		syscall.Kill(p.PID(), syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%s (pid %d) ignored SIGTERM: killed", p.Name, p.PID())
	}
	return nil
}

// exitError drops the "killed by the signal we sent" exits.
func exitError(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return nil
		}
	}
	return err
}

// Tail returns the end of the process's log, for error messages.
func (p *Proc) Tail() string {
	b, _ := os.ReadFile(p.Log)
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return s
}

// children lists the PIDs of pid's child processes.
func children(pid int) []int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if c, err := strconv.Atoi(f); err == nil {
			out = append(out, c)
		}
	}
	return out
}
