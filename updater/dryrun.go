package updater

import (
	"context"
	"io"
	"os"
)

// Preview is what an install of a bundle would do, as beamupd plan
// prints it.
type Preview struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	From    string `json:"from"`
	Decision
}

// Plan verifies the bundle read from r and decides how it would install,
// changing nothing on the node or in the journal: the verified payload is
// removed again. An error of outcome Rejected is a bundle that would be
// refused.
func (u *Updater) Plan(ctx context.Context, name string, r io.Reader) (*Preview, error) {
	lock, err := Acquire(u.cfg.StateDir, "plan "+name)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	j, err := u.journal.Load()
	if err != nil {
		return nil, err
	}
	op, files, err := u.verify(ctx, r, false)
	if op != nil && op.Bundle != "" && (j.Op == nil || j.Op.Bundle != op.Bundle) {
		// Not the payload of a self-update staged and waiting.
		defer os.Remove(u.staged(op))
	}
	defer os.Remove(u.incoming())
	if err != nil {
		return nil, err
	}
	if op.Kind == KindSelfUpdate {
		return &Preview{Name: op.Name, Version: op.Version, From: u.cfg.Agent.Version,
			Decision: Decision{Path: "self-update"}}, nil
	}
	d, err := u.decide(ctx, op, files)
	if err != nil {
		return nil, err
	}
	return &Preview{Name: op.Name, Version: op.Version, From: op.From, Decision: *d}, nil
}
