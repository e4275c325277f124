package updater

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
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
			if !withLayout || h.Manifest.Kind != bundle.KindRelease {
				return nil
			}
			var lerr error
			if lay, lerr = u.startLayout(ctx, h.Manifest, partial, nil, nil); lerr != nil {
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
	op, files, err := u.stage(ctx, h, partial, files)
	if op != nil {
		op.Received = received
	}
	return op, files, err
}

// sumFile hashes the file at path into h.
func sumFile(h hash.Hash, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(h, f)
	return err
}

// layoutRun is a layout that follows a verification.
type layoutRun struct {
	tail  *tail
	done  chan struct{}
	files *otprel.ReleaseFiles
	err   error
	// first says that the layout failed while the payload still came: a
	// bad member, or a release root it cannot write.
	first bool
}

// startLayout lays out the release of manifest m from the file partial as
// its chunks verify, hashing what it reads into sum when sum is not nil: a
// tarball as it is read, a delta as it is rebuilt. When it fails while
// the payload still comes, it calls failed (when not nil): the rest need
// not come.
func (u *Updater) startLayout(ctx context.Context, m *bundle.Manifest, partial string, sum hash.Hash, failed func()) (*layoutRun, error) {
	l, err := u.newLayout(ctx, m.Version)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(partial)
	if err != nil {
		return nil, err
	}
	r := &layoutRun{tail: newTail(f), done: make(chan struct{})}
	r.tail.sum = sum
	if l != nil && m.Delta == nil {
		// A delta's payload is read by its rebuild, in a goroutine of
		// its own: its layout syncs everything as it ends instead.
		r.tail.idle = l.sync
	}
	go func() {
		defer close(r.done)
		defer f.Close()
		if m.Delta != nil {
			r.files, r.err = u.rebuildFrom(ctx, m, r.tail, l)
		} else {
			r.files, r.err = layOut(r.tail, l)
		}
		if r.err == nil {
			// What follows the tarball's end, through the tail's hash.
			_, r.err = io.Copy(io.Discard, r.tail)
		}
		if r.err != nil && !r.tail.stopped() {
			r.first = true
			if failed != nil {
				failed()
			}
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

// Fetch is a transport's download of a payload that arrives out of order
// (MQTT's retained chunks): it writes the payload into its file, checks
// each chunk against the signed manifest before writing it, and calls
// verified with the length of the prefix that has verified whole, as it
// grows. It returns a *report.TransferError when it broke off for a
// passing reason (the file stays, to be resumed), a rejection when a
// chunk was wrong.
type Fetch = func(ctx context.Context, verified func(n int64)) error

// fetched fetches the payload of a bundle whose manifest a transport has
// verified into path. The manifest's signature and the policy are checked
// again (they are small). A release is laid out from the verified prefix
// as it grows, so that when the last chunk is in only its last part is
// left to lay out; the layout also hashes the whole payload as it reads
// it, in order, against the manifest's sha256 (chunks that came out of
// order were never hashed as one), which is all the payload's reading
// after the last byte.
func (u *Updater) fetched(ctx context.Context, h *bundle.Header, path string, fetch Fetch) (*Operation, *otprel.ReleaseFiles, error) {
	hv, err := bundle.VerifyManifest(u.cfg.Keys, h.Raw, h.Signature)
	if err == nil {
		err = u.policy(ctx)(hv)
	}
	if err != nil {
		os.Remove(path)
		if report.OutcomeOf(err) != report.Rejected {
			err = &report.Error{Outcome: report.Rejected, Err: err}
		}
		return nil, nil, err
	}
	op := operation(hv)
	m := hv.Manifest
	if err := os.MkdirAll(u.stagingDir(), 0o755); err != nil {
		return op, nil, fmt.Errorf("creating staging: %w", err)
	}
	// The layout reads the file from its start, as the fetch fills it.
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o644)
	if err != nil {
		return op, nil, fmt.Errorf("staging the download: %w", err)
	}
	f.Close()
	var lay *layoutRun
	whole := sha256.New()
	// A layout that fails ends the download: a bad member in the first
	// chunk of a large release is refused then, not after the rest.
	fetchCtx, stopFetch := context.WithCancel(ctx)
	defer stopFetch()
	if m.Kind == bundle.KindRelease {
		if lay, err = u.startLayout(ctx, m, path, whole, stopFetch); err != nil {
			return op, nil, &report.Error{Outcome: report.Failed, Err: err}
		}
	}
	err = fetch(fetchCtx, func(n int64) {
		if lay != nil {
			lay.tail.verified(n)
		}
	})
	received := time.Now()
	if err == nil {
		if st, serr := os.Stat(path); serr != nil || st.Size() != m.Payload.Size {
			err = reject("payload fetched is not the manifest's %d bytes", m.Payload.Size)
		}
	}
	var files *otprel.ReleaseFiles
	if lay != nil {
		if err == nil {
			lay.tail.verified(m.Payload.Size)
		}
		var lerr error
		if files, lerr = lay.wait(err); err == nil || lay.first {
			err = lerr
		}
	} else if err == nil {
		err = sumFile(whole, path)
	}
	if got := hex.EncodeToString(whole.Sum(nil)); err == nil && got != m.Payload.SHA256 {
		err = reject("payload: sha256 %s, manifest says %s", got, m.Payload.SHA256)
	}
	if err == nil && m.Kind == bundle.KindAgent {
		err = durable.SyncFile(path) // tried from staging after a restart
	}
	if err != nil {
		var broken *report.TransferError
		if !errors.As(err, &broken) {
			os.Remove(path)
		}
		return op, nil, err
	}
	op, files, err = u.stage(ctx, hv, path, files)
	if op != nil {
		op.Received = received
	}
	return op, files, err
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
// or, for a delta, removes it once its release is rebuilt (by the layout,
// or here when there was none), and reads the release (files, when a
// layout has read it already).
func (u *Updater) stage(ctx context.Context, h *bundle.Header, path string, files *otprel.ReleaseFiles) (*Operation, *otprel.ReleaseFiles, error) {
	op := operation(h)
	staged := u.staged(op)
	if h.Manifest.Delta != nil {
		var err error
		if files == nil {
			files, err = u.rebuild(ctx, h.Manifest, path)
		}
		os.Remove(path)
		if err != nil {
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
