package updater

import (
	"context"
	"time"

	"github.com/beamup/beamup/beam"
	"github.com/beamup/beamup/plan"
	"github.com/beamup/beamup/report"
)

// report.Status reports the journal and, when the node answers, its release.
// An operation in the journal that no beamupd is running is "failed"
// until it is resumed.
func (u *Updater) Status(ctx context.Context) (*report.Status, error) {
	j, err := u.journal.Load()
	if err != nil {
		return nil, err
	}
	s := &report.Status{Device: u.cfg.Device, Board: u.cfg.Board, AgentVersion: u.cfg.Agent.Version,
		State: "idle", Updated: time.Now().UTC()}
	if rels, err := u.node.WhichReleases(ctx); err == nil {
		if cur, ok := beam.Current(rels); ok {
			s.Release = &report.ReleaseRef{Name: cur.Name, Version: cur.Version, Status: cur.Status}
		}
	} else {
		s.State = "offline"
	}
	if l := j.Last; l != nil {
		s.LastResult = &report.LastResult{Bundle: l.Bundle, Version: l.Version, Outcome: l.Outcome, Reason: l.Reason, At: l.At}
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
		if !u.attended() {
			s.State = "failed" // nobody runs it: it waits to be resumed
		}
	}
	return s, nil
}
