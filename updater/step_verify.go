package updater

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
// its signature, the policy and every chunk. With layout, a release is
// laid out in the release root as its chunks verify (layout.go): new
// directories only, nothing the running release uses, all of it removed
// again when anything fails before the release is registered. The
// release's own .rel must agree with the manifest.
func (u *Updater) verify(ctx context.Context, in io.Reader, withLayout bool) (*Operation, *otprel.ReleaseFiles, error) {
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
	var lay *layoutRun
	opts := bundle.Options{
		Check: func(h *bundle.Header) error {
			if err := u.Check(ctx, h); err != nil {
				return err
			}
			m := h.Manifest
			if !withLayout || m.Kind != bundle.KindRelease || m.Delta != nil {
				return nil // a delta is laid out as it is rebuilt
			}
			var lerr error
			if lay, lerr = u.startLayout(ctx, m.Version, partial); lerr != nil {
				// The node's word is needed: the device's problem.
				return &report.Error{Outcome: report.Failed, Err: lerr}
			}
			return nil
		},
		Verified: func(n int64) {
			if lay != nil {
				lay.tail.verified(n)
			}
		},
	}
	h, verr := bundle.VerifyWith(ctx, in, u.cfg.Keys, opts, sw)
	if verr == nil {
		// The end of the archive: a sender streaming the bundle (the
		// serial console) finishes its transfer only once it is read.
		io.CopyN(io.Discard, in, 1<<20)
	}
	received := time.Now() // the bundle's last byte, its archive's end
	var broken *report.TransferError
	var judged *report.Error
	if verr != nil && sw.err == nil && ctx.Err() == nil && !errors.As(verr, &judged) && !errors.As(verr, &broken) {
		// Not our disk, not a cancellation: the bundle itself is bad.
		verr = &report.Error{Outcome: report.Rejected, Err: verr}
	}
	if verr == nil && (h.Manifest.Kind == bundle.KindAgent || !withLayout) {
		// A new beamupd is tried from staging after a restart; a release
		// was laid out from it, and its layout is what is synced.
		verr = out.Sync()
	}
	if err := out.Close(); verr == nil {
		verr = err
	}
	var files *otprel.ReleaseFiles
	if lay != nil {
		var lerr error
		files, lerr = lay.wait(verr)
		if verr == nil {
			verr = lerr
		}
	}
	if verr != nil {
		var op *Operation
		if h != nil {
			op = operation(h)
		}
		return op, nil, verr
	}
	op, files, err := u.stage(ctx, h, partial, files, withLayout)
	if op != nil {
		op.Received = received
	}
	return op, files, err
}

// layoutRun is a layout that follows a verification.
type layoutRun struct {
	tail  *tail
	done  chan struct{}
	files *otprel.ReleaseFiles
	err   error
}

// startLayout lays out release vsn from the file partial as its chunks
// verify.
func (u *Updater) startLayout(ctx context.Context, vsn, partial string) (*layoutRun, error) {
	l, err := u.newLayout(ctx, vsn)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(partial)
	if err != nil {
		return nil, err
	}
	r := &layoutRun{tail: newTail(f), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		defer f.Close()
		r.files, r.err = layOut(r.tail, l)
		if r.err == nil {
			// What follows the tarball's end, through the tail's hash.
			_, r.err = io.Copy(io.Discard, r.tail)
		}
	}()
	return r, nil
}

// wait ends the layout once the verification has ended with verr, and
// returns the release it read.
func (r *layoutRun) wait(verr error) (*otprel.ReleaseFiles, error) {
	r.tail.stop(verr)
	<-r.done
	return r.files, tarballError(r.err)
}

// tarballError is the outcome of reading a release tarball: a layout
// that could not write is the device's problem, anything else the
// bundle's.
func tarballError(err error) error {
	var le *layoutError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &le):
		return fmt.Errorf("laying out the release: %w", le.err)
	}
	var judged *report.Error
	if errors.As(err, &judged) {
		return err
	}
	return reject("payload: %v", err)
}

// verified takes over a payload that a transport has verified against
// the signed manifest, chunk by chunk, as it arrived: the manifest's
// signature and the policy are checked again (they are small), the
// payload is neither hashed nor copied again, only synced to disk, and a
// release is laid out from it.
func (u *Updater) verified(ctx context.Context, h *bundle.Header, payload string) (*Operation, *otprel.ReleaseFiles, error) {
	received := time.Now()
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
	if hv.Manifest.Kind == bundle.KindAgent {
		if err := durable.SyncFile(payload); err != nil {
			os.Remove(payload)
			return op, nil, fmt.Errorf("staging payload: %w", err)
		}
	}
	if err := os.MkdirAll(u.stagingDir(), 0o755); err != nil {
		os.Remove(payload)
		return op, nil, fmt.Errorf("creating staging: %w", err)
	}
	var files *otprel.ReleaseFiles
	if m := hv.Manifest; m.Kind == bundle.KindRelease && m.Delta == nil {
		files, err = u.layOutFile(ctx, m.Version, payload, m.Payload)
	} else {
		err = checkWhole(payload, m.Payload)
	}
	if err != nil {
		os.Remove(payload)
		return op, nil, err
	}
	op, files, err = u.stage(ctx, hv, payload, files, true)
	if op != nil {
		op.Received = received
	}
	return op, files, err
}

// layOutFile lays out release vsn from a whole tarball whose chunks a
// transport has verified, and checks the whole payload's hash on the way
// (chunks that arrived out of order were never hashed as one).
func (u *Updater) layOutFile(ctx context.Context, vsn, tarball string, p bundle.Payload) (*otprel.ReleaseFiles, error) {
	r, err := u.startLayout(ctx, vsn, tarball)
	if err != nil {
		return nil, err
	}
	sum := sha256.New()
	r.tail.sum = sum
	r.tail.verified(p.Size)
	files, err := r.wait(nil)
	if err != nil {
		return nil, err
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != p.SHA256 {
		return nil, reject("payload: sha256 %s, manifest says %s", got, p.SHA256)
	}
	return files, nil
}

// checkWhole checks a whole payload file's hash against the manifest's.
func checkWhole(path string, p bundle.Payload) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return err
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != p.SHA256 {
		return reject("payload: sha256 %s, manifest says %s", got, p.SHA256)
	}
	return nil
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
// or rebuilds the release a delta payload describes, and reads the
// release (files, when a layout has read it already). With layout, a
// delta's release is laid out as it is rebuilt.
func (u *Updater) stage(ctx context.Context, h *bundle.Header, path string, files *otprel.ReleaseFiles, withLayout bool) (*Operation, *otprel.ReleaseFiles, error) {
	op := operation(h)
	staged := u.staged(op)
	if h.Manifest.Delta != nil {
		var err error
		if files, err = u.rebuild(ctx, h.Manifest, path, withLayout); err != nil {
			return op, nil, err
		}
	} else if err := os.Rename(path, staged); err != nil {
		os.Remove(path)
		return op, nil, fmt.Errorf("staging payload: %w", err)
	}
	if op.Kind == KindSelfUpdate {
		return op, nil, nil
	}
	if files == nil {
		f, err := os.Open(staged)
		if err != nil {
			return op, nil, err
		}
		defer f.Close()
		if files, err = otprel.ReadTarball(f); err != nil {
			return op, nil, reject("payload: %v", err)
		}
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
