package updater

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/beamup/beamup/beam"
	"github.com/beamup/beamup/internal/failpoint"
	"github.com/beamup/beamup/otprel"
)

// commit makes the release permanent. make_permanent purges the old code
// of the modules the appup loads with brutal_purge and so kills the
// processes that still run it: that is what the appup asks for, so commit
// goes on, and says how many and which.
func (u *Updater) commit(ctx context.Context, op *Operation) error {
	op.Note = u.oldCode(ctx, op)
	if err := u.node.MakePermanent(ctx, op.Version); err != nil {
		return fmt.Errorf("making %s permanent: %w", op.Version, err)
	}
	failpoint.Hit("made-permanent")
	return u.committed(ctx, op)
}

// oldCode says what make_permanent will do to the processes that still run
// old code, as the relup's purge methods decide: "" when there are none.
func (u *Updater) oldCode(ctx context.Context, op *Operation) string {
	if op.Mode == "cold" {
		return "" // a node that booted the release runs no old code
	}
	relup := filepath.Join(u.cfg.Root, "releases", op.Version, "relup")
	data, err := os.ReadFile(relup)
	if err != nil {
		return ""
	}
	instrs, err := otprel.RelupInstructions(data, op.From, true)
	if err != nil {
		u.Log("reading %s: %v", relup, err)
		return ""
	}
	// What make_permanent does to the processes on old code of the
	// modules loaded with each post-purge method, as the relup says: both
	// asked at once, the node answers them side by side.
	methods := []struct{ method, format string }{
		{"brutal_purge", "make_permanent ends %s on old code of %s, as the appup's brutal_purge asks: %s"},
		{"soft_purge", "%s still on old code of %s (soft_purge) keep running: %s"},
	}
	found := make([]string, len(methods))
	var wg sync.WaitGroup
	for i, m := range methods {
		mods := otprel.PostPurged(instrs, m.method)
		if len(mods) == 0 {
			continue
		}
		wg.Go(func() {
			oc, err := u.node.OldCodeProcesses(ctx, mods, 5)
			if err != nil {
				u.Log("checking for old code: %v", err)
			} else if oc.Count > 0 {
				found[i] = fmt.Sprintf(m.format, plural(oc.Count, "process", "processes"), strings.Join(oc.Modules, ", "), names(oc))
			}
		})
	}
	wg.Wait()
	var notes []string
	for _, n := range found {
		if n != "" {
			notes = append(notes, n)
		}
	}
	note := strings.Join(notes, "; ")
	if note != "" {
		u.Log("%s", note)
	}
	return note
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// names lists the processes named, and how many more there are.
func names(oc beam.OldCode) string {
	s := strings.Join(oc.Named, ", ")
	if more := oc.Count - len(oc.Named); more > 0 {
		s += fmt.Sprintf(" and %d more", more)
	}
	return s
}

// committed records what follows a successful make_permanent: the
// security floor, the files beamupd copied, and the release's own start
// scripts brought in line with what is now permanent.
func (u *Updater) committed(ctx context.Context, op *Operation) error {
	if err := u.security.Commit(op.Name, op.SecurityVersion); err != nil {
		return fmt.Errorf("recording security_version: %w", err)
	}
	if err := u.bootPermanent(ctx); err != nil {
		return err
	}
	u.removeCopies(op)
	if op.Received.IsZero() || op.Resumes > 0 {
		u.Log("committed %s %s", op.Name, op.Version)
		return nil
	}
	u.Log("committed %s %s, %s after the last byte", op.Name, op.Version, time.Since(op.Received).Round(100*time.Microsecond))
	return nil
}
