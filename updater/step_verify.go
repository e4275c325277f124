package updater

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/beamup/beamup/bundle"
	"github.com/beamup/beamup/internal/durable"
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
	h, verr := bundle.Verify(ctx, in, u.cfg.Keys, func(h *bundle.Header) error { return u.Check(ctx, h) }, sw)
	if verr == nil {
		// The end of the archive: a sender streaming the bundle (the
		// serial console) finishes its transfer only once it is read.
		io.CopyN(io.Discard, in, 1<<20)
	}
	var broken *report.TransferError
	var judged *report.Error
	if verr != nil && sw.err == nil && ctx.Err() == nil && !errors.As(verr, &judged) && !errors.As(verr, &broken) {
		// Not our disk, not a cancellation: the bundle itself is bad.
		verr = &report.Error{Outcome: report.Rejected, Err: verr}
	}
	if verr == nil {
		verr = out.Sync()
	}
	if err := out.Close(); verr == nil {
		verr = err
	}
	if verr != nil {
		var op *Operation
		if h != nil {
			op = operation(h)
		}
		return op, nil, verr
	}
	return u.stage(ctx, h, partial)
}

// verified takes over a payload that a transport has verified against
// the signed manifest, chunk by chunk, as it arrived: the manifest's
// signature and the policy are checked again (they are small), the
// payload is neither hashed nor copied again, only synced to disk.
func (u *Updater) verified(ctx context.Context, h *bundle.Header, payload string) (*Operation, *otprel.ReleaseFiles, error) {
	hv, err := bundle.VerifyManifest(u.cfg.Keys, h.Raw, h.Signature)
	if err == nil {
		err = u.policy(ctx)(hv)
	}
	if err != nil {
		os.Remove(payload)
		if report.OutcomeOf(err) != report.Rejected {
			err = &report.Error{Outcome: report.Rejected, Err: err}
		}
		return nil, nil, err
	}
	op := operation(hv)
	if st, err := os.Stat(payload); err != nil || st.Size() != hv.Manifest.Payload.Size {
		os.Remove(payload)
		return op, nil, reject("payload handed over is not the manifest's %d bytes", hv.Manifest.Payload.Size)
	}
	if err := durable.SyncFile(payload); err != nil {
		os.Remove(payload)
		return op, nil, fmt.Errorf("staging payload: %w", err)
	}
	if err := os.MkdirAll(u.stagingDir(), 0o755); err != nil {
		os.Remove(payload)
		return op, nil, fmt.Errorf("creating staging: %w", err)
	}
	return u.stage(ctx, hv, payload)
}

// operation is the operation a verified manifest asks for.
func operation(h *bundle.Header) *Operation {
	m := h.Manifest
	kind := KindInstall
	if m.Kind == bundle.KindAgent {
		kind = KindSelfUpdate
	}
	op := &Operation{Kind: kind, Bundle: h.ID(), Name: m.Name, Version: m.Version,
		SecurityVersion: m.SecurityVersion, SHA256: m.Payload.SHA256, Mode: m.Mode(), Started: time.Now().UTC()}
	if m.Upgrade != nil {
		op.UpgradeFrom = m.Upgrade.From
		op.Downgrade = m.Upgrade.Downgrade
	}
	return op
}

// stage moves the verified payload at path to where op's payload waits,
// or rebuilds there the release a delta payload describes, and reads the
// release it holds.
func (u *Updater) stage(ctx context.Context, h *bundle.Header, path string) (*Operation, *otprel.ReleaseFiles, error) {
	op := operation(h)
	staged := u.staged(op)
	if h.Manifest.Delta != nil {
		if err := u.rebuild(ctx, h.Manifest, path, staged); err != nil {
			return op, nil, err
		}
	} else if err := os.Rename(path, staged); err != nil {
		os.Remove(path)
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
