package updater

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"
)

// Install installs the bundle at path and waits for the outcome. Its steps,
// in order:
//
//  1. verify: signature, policy, every chunk, into the state directory
//  2. preflight: compare running and new release; decide hot or refuse
//  3. copy: tarball and .rel into <root>/releases; RELEASES prepared
//  4. unpack: unpack_release, check_install_release
//     -- point of no return --
//  5. install: install_release, bounded in time
//  6. health: node booted, every application started, health function
//     passing for the whole soak
//  7. commit: no process left on old code, make_permanent
//
// A failure in 3–4 is undone; a failure from 5 on reverts by restarting
// the node on the permanent release (step_revert.go). An operation that an
// earlier beamupd left unfinished is resumed first (resume.go).
func (u *Updater) Install(ctx context.Context, path string) (*Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return u.rejected(nil, reject("reading bundle: %v", err))
	}
	defer f.Close()
	return u.InstallFrom(ctx, path, f)
}

// InstallFrom installs the bundle read from r, named name in messages: a
// file, a download, a serial transfer. Every source goes through the same
// steps.
func (u *Updater) InstallFrom(ctx context.Context, name string, r io.Reader) (*Result, error) {
	lock, err := Acquire(u.cfg.StateDir, "install "+name)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	if _, err := u.resume(ctx); err != nil {
		return nil, err
	}

	op, files, err := u.verify(ctx, r)
	if err != nil {
		return u.rejected(op, err)
	}
	if op.Kind == KindSelfUpdate {
		// A new beamupd is tried and swapped in by TryAgent.
		if err := u.stageAgent(op); err != nil {
			return u.rejected(op, err)
		}
		return &Result{Kind: op.Kind, Bundle: op.Bundle, Name: op.Name, Version: op.Version, Outcome: Staged,
			Reason: fmt.Sprintf("beamupd %s verified; it is tried before it replaces %s", op.Version, u.cfg.Agent.Version), At: time.Now().UTC()}, nil
	}
	if err := u.preflight(ctx, op, files); err != nil {
		return u.rejected(op, err)
	}
	if err := u.copy(op, files); err != nil {
		return result(u.undo(ctx, op, err))
	}
	if err := u.unpack(ctx, op); err != nil {
		return result(u.undo(ctx, op, err))
	}
	if err := u.install(ctx, op); err != nil {
		return result(u.revert(ctx, op, err))
	}
	if err := u.checkHealth(ctx, op, files.Release); err != nil {
		return result(u.revert(ctx, op, err))
	}
	if err := u.commit(ctx, op); err != nil {
		return result(u.revert(ctx, op, err))
	}
	reason := fmt.Sprintf("%s %s is permanent (%s upgrade from %s)", op.Name, op.Version, op.Mode, op.From)
	if op.Note != "" {
		reason += "; " + op.Note
	}
	return result(u.finish(op, Committed, reason))
}

// rejected records an install that stopped before any change: a bundle
// refused (Rejected), or the node unreachable or misbehaving before a
// thing was touched (Failed: it needs a look, but nothing was lost).
func (u *Updater) rejected(op *Operation, err error) (*Result, error) {
	if op == nil {
		op = &Operation{Kind: "install"}
	}
	outcome := OutcomeOf(err)
	if outcome != Rejected {
		outcome = Failed
		err = &Error{Outcome: Failed, Err: fmt.Errorf("%w; nothing was changed", err)}
	}
	r := u.finish(op, outcome, unwrapOutcome(err))
	u.Log("%s: %s", outcome, r.Reason)
	return r, err
}

func unwrapOutcome(err error) string {
	if e, ok := err.(*Error); ok {
		return e.Err.Error()
	}
	return err.Error()
}
