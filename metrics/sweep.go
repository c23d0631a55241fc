package metrics

import (
	"sync"

	"github.com/ftpxdp/ftpxdp/loader"
)

// SweepStats adds up what the sweeper removed, for the collector to report.
// The daemon hands every sweep's result to Observe; the zero value is ready
// to use and safe for concurrent use.
type SweepStats struct {
	mu     sync.Mutex
	total  loader.SweepResult
	sweeps uint64
	errors uint64
}

// Observe records one sweep: what it removed, and whether it failed. A
// failed sweep may still have removed something, so r counts either way.
func (s *SweepStats) Observe(r loader.SweepResult, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total.ExpiredUnused += r.ExpiredUnused
	s.total.ExpiredUsed += r.ExpiredUsed
	s.total.IdleControls += r.IdleControls
	s.total.RateEntries += r.RateEntries
	s.sweeps++
	if err != nil {
		s.errors++
	}
}

// Totals returns what all sweeps so far removed, how many sweeps ran and
// how many of them failed.
func (s *SweepStats) Totals() (removed loader.SweepResult, sweeps, errors uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total, s.sweeps, s.errors
}
