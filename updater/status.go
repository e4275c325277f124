package updater

import (
	"context"
	"time"

	"github.com/beamup/beamup/beam"
	"github.com/beamup/beamup/plan"
)

// Status is the device's status, as beamupd status --json prints it and as
// it is published over MQTT.
type Status struct {
	Device       string      `json:"device"`
	Board        string      `json:"board"`
	AgentVersion string      `json:"agent_version"`
	Release      *ReleaseRef `json:"release"`
	State        string      `json:"state"`
	Bundle       string      `json:"bundle,omitempty"`
	Progress     *Progress   `json:"progress,omitempty"`
	LastResult   *LastResult `json:"last_result,omitempty"`
	Updated      time.Time   `json:"updated"`
}

type ReleaseRef struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Status  string `json:"status,omitempty"`
}

type Progress struct {
	Done  int64 `json:"done"`
	Total int64 `json:"total"`
}

type LastResult struct {
	Bundle  string    `json:"bundle,omitempty"`
	Version string    `json:"version"`
	Outcome Outcome   `json:"outcome"`
	Reason  string    `json:"reason,omitempty"`
	At      time.Time `json:"at"`
}

// Status reports the journal and, when the node answers, its release.
// An operation in the journal that no beamupd is running is "failed"
// until it is resumed.
func (u *Updater) Status(ctx context.Context) (*Status, error) {
	j, err := u.journal.Load()
	if err != nil {
		return nil, err
	}
	s := &Status{State: "idle", Updated: time.Now().UTC()}
	if rels, err := u.node.WhichReleases(ctx); err == nil {
		if cur, ok := beam.Current(rels); ok {
			s.Release = &ReleaseRef{Name: cur.Name, Version: cur.Version, Status: cur.Status}
		}
	} else {
		s.State = "offline"
	}
	if l := j.Last; l != nil {
		s.LastResult = &LastResult{Bundle: l.Bundle, Version: l.Version, Outcome: l.Outcome, Reason: l.Reason, At: l.At}
		if s.State == "idle" {
			s.State = string(l.Outcome)
		}
	}
	if op := j.Op; op != nil {
		s.Bundle = op.Bundle
		s.State = "installing"
		if d, ok := plan.Lookup(op.Step); ok {
			s.State = d.State
		}
		if lock, err := Acquire(u.cfg.StateDir, "status"); err == nil {
			lock.Release() // nobody is running it: it waits to be resumed
			s.State = "failed"
		}
	}
	return s, nil
}
