package updater

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/beamup/beamup/bundle"
	"github.com/beamup/beamup/plan"
	"github.com/beamup/beamup/report"
)

// Install installs the bundle at path and waits for the outcome.
func (u *Updater) Install(ctx context.Context, path string) (*report.Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return u.rejected(nil, reject("reading bundle: %v", err))
	}
	defer f.Close()
	return u.InstallFrom(ctx, path, f)
}

// InstallFrom installs the bundle read from r, named name in messages: a
// file, a download, a serial transfer. Every source goes through the same
// steps, which package plan lists in order (plan.Hot, plan.Cold):
//
//	verify      signature, policy, every chunk, into the state directory;
//	            the release laid out in new directories as chunks verify
//	verified    preflight: compare running and new release; hot, cold, or refuse
//	copying     the .rel into <root>/releases/VSN
//	unpacking   RELEASES prepared; set_unpacked; every laid-out file checked
//	            (hot: and check_install_release)
//	            -- point of no return --
//	installing  hot: install_release, bounded in time
//	booting     cold: the next boot runs the new release, once
//	rebooting   cold: the node restarted onto it; the boot points back
//	checking    every application started, the health function passing
//	            for the whole soak
//	committing  make_permanent; what boots is what is permanent
//
// A failure before the point of no return is undone; from it on, the node
// is restarted on the permanent release (step_revert.go). An operation an
// earlier beamupd left unfinished is resumed first (driver.go).
func (u *Updater) InstallFrom(ctx context.Context, name string, r io.Reader) (*report.Result, error) {
	lock, err := Acquire(u.cfg.StateDir, "install "+name)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	if _, err := u.resume(ctx); err != nil {
		return nil, err
	}
	u.sweep(operationLeftovers)

	op, files, err := u.verify(ctx, r, true)
	if err != nil {
		return u.rejected(op, err)
	}
	// Preflight, the first step of an install, chooses its path; a new
	// beamupd is staged, then tried and swapped in by TryAgent.
	return u.run(ctx, op, files, plan.Of(op.Kind, "").First())
}

// InstallFetched installs bundle h, whose signed manifest a transport
// has read, and whose payload fetch writes into path out of order, each
// chunk checked as it comes (MQTT). The download is part of the
// operation: the release is laid out as the verified prefix grows, so the
// last chunk is followed only by the install's own steps. A fetch that
// broke off changes nothing and leaves path to be resumed; otherwise the
// file is taken over: moved into staging, or removed when the install
// stops first.
func (u *Updater) InstallFetched(ctx context.Context, name string, h *bundle.Header, path string, fetch Fetch) (*report.Result, error) {
	lock, err := Acquire(u.cfg.StateDir, "install "+name)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	if _, err := u.resume(ctx); err != nil {
		return nil, err
	}
	u.sweep(operationLeftovers)
	op, files, err := u.fetched(ctx, h, path, fetch)
	if err != nil {
		return u.rejected(op, err)
	}
	return u.run(ctx, op, files, plan.Of(op.Kind, "").First())
}

// rejected records an install that stopped before any change, when no
// plan has started yet; what its layout had made goes (discard does it
// for the rest).
func (u *Updater) rejected(op *Operation, err error) (*report.Result, error) {
	var broken *report.TransferError
	if errors.As(err, &broken) {
		// Nothing arrived to judge: no result is recorded.
		u.removeLayout()
		os.Remove(u.incoming())
		if op != nil && op.Bundle != "" {
			os.Remove(u.staged(op))
		}
		u.Log("%v; nothing was changed", err)
		return nil, err
	}
	if op == nil {
		op = &Operation{Kind: KindInstall}
	}
	r := u.discard(op, err)
	if r.Outcome == report.Failed {
		err = &report.Error{Outcome: report.Failed, Err: fmt.Errorf("%w; nothing was changed", err)}
	}
	return r, err
}

func unwrapOutcome(err error) string {
	if e, ok := err.(*report.Error); ok {
		return e.Err.Error()
	}
	return err.Error()
}
