package updater

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/beamup/beamup/bundle"
	"github.com/beamup/beamup/otprel"
	"github.com/beamup/beamup/report"
)

// verify streams the bundle from in into the staging directory, checking
// its signature, the policy and every chunk. Nothing outside the state
// directory is touched. The release's own .rel must agree with the
// manifest.
func (u *Updater) verify(ctx context.Context, in io.Reader) (*Operation, *otprel.ReleaseFiles, error) {
	if err := os.MkdirAll(u.stagingDir(), 0o755); err != nil {
		return nil, nil, fmt.Errorf("creating staging: %w", err)
	}
	partial := u.incoming()
	out, err := os.Create(partial)
	if err != nil {
		return nil, nil, fmt.Errorf("creating staging: %w", err)
	}
	defer os.Remove(partial)
	sw := &stagingWriter{f: out}
	h, verr := bundle.Verify(ctx, in, u.cfg.Keys, u.policy(ctx), sw)
	if verr != nil && sw.err == nil && ctx.Err() == nil && report.OutcomeOf(verr) != report.Rejected {
		// Not our disk, not a cancellation: the bundle itself is bad.
		verr = &report.Error{Outcome: report.Rejected, Err: verr}
	}
	if verr == nil {
		verr = out.Sync()
	}
	if err := out.Close(); verr == nil {
		verr = err
	}
	var op *Operation
	if h != nil {
		m := h.Manifest
		kind := KindInstall
		if m.Kind == bundle.KindAgent {
			kind = KindSelfUpdate
		}
		op = &Operation{Kind: kind, Bundle: h.ID(), Name: m.Name, Version: m.Version,
			SecurityVersion: m.SecurityVersion, SHA256: m.Payload.SHA256, Mode: m.Mode(), Started: time.Now().UTC()}
		if m.Upgrade != nil {
			op.UpgradeFrom = m.Upgrade.From
			op.Downgrade = m.Upgrade.Downgrade
		}
	}
	if verr != nil {
		return op, nil, verr
	}
	staged := u.staged(op)
	if err := os.Rename(partial, staged); err != nil {
		return op, nil, fmt.Errorf("staging payload: %w", err)
	}
	if op.Kind == KindSelfUpdate {
		return op, nil, nil
	}
	f, err := os.Open(staged)
	if err != nil {
		return op, nil, err
	}
	defer f.Close()
	files, err := otprel.ReadTarball(f)
	if err != nil {
		return op, nil, reject("payload: %v", err)
	}
	if files.Name != op.Name || files.Version != op.Version {
		return op, nil, reject("payload holds release %s %s, manifest says %s %s", files.Name, files.Version, op.Name, op.Version)
	}
	u.Log("verified bundle %.12s: %s %s", op.Bundle, op.Name, op.Version)
	return op, files, nil
}

// stagingWriter remembers a failed write, which is the device's
// problem, not the bundle's.
type stagingWriter struct {
	f   *os.File
	err error
}

func (w *stagingWriter) Write(b []byte) (int, error) {
	n, err := w.f.Write(b)
	if err != nil {
		w.err = fmt.Errorf("writing to staging: %w", err)
		return n, w.err
	}
	return n, nil
}

// incoming is where a bundle's payload lands while it is verified.
func (u *Updater) incoming() string { return filepath.Join(u.stagingDir(), "incoming.partial") }

// staged is where op's verified payload waits in the state directory.
func (u *Updater) staged(op *Operation) string {
	if op.Kind == KindSelfUpdate {
		return filepath.Join(u.stagingDir(), op.Bundle+".beamupd")
	}
	return filepath.Join(u.stagingDir(), op.Bundle+".tar.gz")
}
