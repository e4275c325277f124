package updater

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/beamup/beamup/beam"
	"github.com/beamup/beamup/internal/durable"
	"github.com/beamup/beamup/otprel"
	"github.com/beamup/beamup/plan"
	"github.com/beamup/beamup/report"
)

// run drives op through its plan (package plan) from the action a: each
// step is journaled before it acts (or while it acts, where a crash would
// be resumed the same either way), then performed; plan.Next decides what
// follows and, when a step fails, the way back. The plan is looked up at
// every step because preflight, the first one, chooses the path.
//
// The error, nil when the operation committed, carries the outcome and
// the step's own error, so that callers classify it by type.
func (u *Updater) run(ctx context.Context, op *Operation, files *otprel.ReleaseFiles, a plan.Action) (*report.Result, error) {
	var err error
	// Where the time after the last byte goes, for the log: the steps
	// are what a faster install would have to make cheaper.
	var took []string
	if !op.Received.IsZero() && op.Resumes == 0 {
		took = []string{fmt.Sprintf("%s to the first step", time.Since(op.Received).Round(100*time.Microsecond))}
	}
	for a.Kind == plan.Do {
		start := time.Now()
		if d, _ := plan.Lookup(a.Step); d.JournaledWhileActing() {
			journaled := u.enterWhileActing(op, a.Step)
			err = u.act(ctx, op, files, a.Step)
			if jerr := journaled(); err == nil {
				err = jerr
			}
		} else if err = u.enter(op, a.Step); err == nil {
			err = u.act(ctx, op, files, a.Step)
		}
		if took != nil {
			took = append(took, fmt.Sprintf("%s %s", a.Step, time.Since(start).Round(100*time.Microsecond)))
		}
		a = plan.Of(op.Kind, op.Mode).Next(a.Step, err != nil)
	}
	seen := u.rebuilt.Swap(nil)
	switch a.Kind {
	case plan.Finish:
		if took != nil {
			u.Log("after the last byte: %s", strings.Join(took, ", "))
		}
		r := u.finish(op, report.Committed, done(op))
		// After the commit: the record is for the next delta, not this one.
		if seen != nil {
			u.keepBaseHashes(seen)
		}
		return r, nil
	case plan.Pause:
		return u.staging(op, fmt.Sprintf("beamupd %s verified; it is tried before it replaces %s", op.Version, u.cfg.Agent.Version)), nil
	case plan.Handover:
		return u.staging(op, fmt.Sprintf("beamupd %s replaced %s; handing over", op.Version, u.cfg.Agent.Version)), nil
	}
	r := u.back(ctx, op, a.Kind, err)
	return r, &report.Error{Outcome: r.Outcome, Err: &reasonError{r.Reason, err}}
}

// reasonError is an operation's reason, as its result says it, wrapping
// the error of the step that failed.
type reasonError struct {
	reason string
	cause  error
}

func (e *reasonError) Error() string { return e.reason }
func (e *reasonError) Unwrap() error { return e.cause }

// act performs one step; the step is journaled already.
func (u *Updater) act(ctx context.Context, op *Operation, files *otprel.ReleaseFiles, step plan.Step) error {
	switch step {
	case plan.Verified:
		return u.preflight(ctx, op, files)
	case plan.Copying:
		return u.copy(op, files)
	case plan.Unpacking:
		return u.unpack(ctx, op, files)
	case plan.Installing:
		return u.install(ctx, op)
	case plan.Booting:
		return u.bootOnce(ctx, op, files)
	case plan.Rebooting:
		return u.reboot(ctx, op)
	case plan.Checking:
		return u.checkHealth(ctx, op, files.Release)
	case plan.Committing:
		return u.commit(ctx, op)
	case plan.RollingBack:
		return u.rollBack(ctx, op, files)
	case plan.AgentStaged:
		return u.stageAgent(op)
	case plan.AgentTrying:
		return u.tryAgent(ctx, op)
	case plan.AgentReplacing:
		return u.replaceAgent(op)
	}
	return fmt.Errorf("step %s is not performed by this beamupd", step)
}

// back takes the way back that the plan chose after cause.
func (u *Updater) back(ctx context.Context, op *Operation, k plan.Kind, cause error) *report.Result {
	switch k {
	case plan.Discard:
		if op.Kind == KindSelfUpdate && report.OutcomeOf(cause) != report.Rejected {
			return u.discardAgent(op, cause)
		}
		return u.discard(op, cause)
	case plan.Undo:
		return u.undo(ctx, op, cause)
	case plan.GiveUp:
		return u.finish(op, report.Failed, fmt.Sprintf("gave up %s of %s %s after %d interrupted attempts at step %s",
			op.Kind, op.Name, op.Version, op.Resumes-1, op.Step))
	}
	return u.revert(ctx, op, cause)
}

// staging is the result of a self-update that goes on: in the daemon's
// trial, or in the new beamupd. Its Outcome, Staged, ends nothing.
func (u *Updater) staging(op *Operation, reason string) *report.Result {
	return &report.Result{Kind: op.Kind, Bundle: op.Bundle, Name: op.Name, Version: op.Version,
		Outcome: report.Staged, Reason: reason, At: time.Now().UTC()}
}

// discard ends an operation that changed nothing outside the state
// directory: a bundle refused (report.Rejected), or the node unreachable or
// misbehaving before a thing was touched (Failed: it needs a look, but
// nothing was lost).
func (u *Updater) discard(op *Operation, err error) *report.Result {
	outcome := report.OutcomeOf(err)
	reason := unwrapOutcome(err)
	var intr *interrupted
	switch {
	case errors.As(err, &intr):
		// Nothing to look at: it stopped, and nothing had changed.
		outcome = report.Reverted
		reason += "; nothing was changed"
	case outcome != report.Rejected:
		outcome = report.Failed
		reason += "; nothing was changed"
	}
	u.removeLayout()
	r := u.finish(op, outcome, reason)
	u.Log("%s: %s", outcome, r.Reason)
	return r
}

// done is the reason an operation that committed gives.
func done(op *Operation) string {
	var s string
	switch {
	case op.Kind == KindRollback, op.Mode == "back":
		s = fmt.Sprintf("rolled back from %s to %s %s (%s)", op.From, op.Name, op.Version, op.Note)
		return s
	default:
		s = fmt.Sprintf("%s %s is permanent (%s upgrade from %s)", op.Name, op.Version, op.Mode, op.From)
	}
	if op.Note != "" {
		s += "; " + op.Note
	}
	return s
}

// resume finishes an operation that a beamupd which crashed or lost power
// left in the journal: plan.Resume decides from the journaled step and
// what the node and this beamupd report. It returns nil when there was
// nothing to resume.
func (u *Updater) resume(ctx context.Context) (*report.Result, error) {
	j, err := u.journal.Load()
	if err != nil {
		return nil, err
	}
	op := j.Op
	if op == nil {
		return nil, nil
	}
	op.Resumes++
	if err := u.save(op); err != nil {
		return nil, err
	}
	facts := plan.Facts{Agent: u.cfg.Agent.Version}
	if d, ok := plan.Lookup(op.Step); ok && d.AsksNode() {
		if rels, err := u.node.WhichReleases(ctx); err == nil {
			perm, _ := beam.Permanent(rels)
			facts.Permanent = perm.Version
		}
	}
	a := plan.Resume(op.Step, op.Version, op.Resumes, facts)
	if op.Kind != KindSelfUpdate {
		u.Log("resuming %s of %s %s interrupted at step %s: %s", op.Kind, op.Name, op.Version, op.Step, a.Kind)
	}
	cause := &interrupted{op.Step, op.Reason}
	if a.Kind != plan.Finish {
		return u.back(ctx, op, a.Kind, cause), nil
	}
	switch op.Kind {
	case KindSelfUpdate:
		return u.commitAgent(op), nil
	case KindInstall:
		err = u.committed(ctx, op)
	default:
		err = u.bootPermanent(ctx)
	}
	if err != nil {
		return u.finish(op, report.Failed, err.Error()), nil
	}
	return u.finish(op, report.Committed, fmt.Sprintf("%s %s is permanent (finished after a restart of beamupd)", op.Name, op.Version)), nil
}

// interrupted is the cause of a resumed operation's end: the step a crash
// interrupted, or the failure it was going back from.
type interrupted struct {
	step   plan.Step
	reason string
}

func (e *interrupted) Error() string {
	if e.reason != "" {
		return e.reason
	}
	return "interrupted at step " + string(e.step)
}

// Resume finishes an interrupted operation, if there is one, and returns
// how it ended; the daemon calls it when it starts, before any transport.
// What a killed beamupd left in staging that no operation owns goes too.
func (u *Updater) Resume(ctx context.Context) (*report.Result, error) {
	lock, err := Acquire(u.cfg.StateDir, "resume")
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	if op := u.journaled(); op != nil && op.Kind != KindSelfUpdate {
		u.waitNode(ctx)
	}
	r, err := u.resume(ctx)
	u.sweep(append(operationLeftovers, transferLeftovers...))
	// Before any transport, which writes its own files there.
	u.removeTemps(u.cfg.StateDir)
	u.learnBase(ctx)
	u.prepareNode(ctx)
	return r, err
}

// journaled is the operation in the journal, or nil.
func (u *Updater) journaled() *Operation {
	j, err := u.journal.Load()
	if err != nil {
		return nil
	}
	return j.Op
}

// waitNode gives a node that boots with the device (after a power cut
// both start at once) the boot timeout to answer before an interrupted
// operation is judged on what it says.
func (u *Updater) waitNode(ctx context.Context) {
	deadline := time.Now().Add(u.cfg.BootTimeout)
	for time.Now().Before(deadline) {
		if booted, err := u.node.Booted(ctx); err == nil && booted {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
	u.Log("the node did not answer within %s; going on without it", u.cfg.BootTimeout)
}

// Leftovers in staging: what an operation stages (its payload, a delta's
// rebuild, a payload being verified), and what the serial console
// receives before it hands a transfer over. MQTT downloads stay: they
// resume.
var (
	operationLeftovers = []string{"incoming.partial", "*.tar.gz.partial", "*.delta", "*.tar.gz", "*.beamupd"}
	transferLeftovers  = []string{"serial.partial", "serial-*.bundle"}
)

// sweep removes from staging the leftovers that no operation owns: what a
// killed beamupd was verifying or rebuilding, what it staged before it
// journaled it, and the temporary files of its durable writes there and
// in the release root's releases/.
func (u *Updater) sweep(patterns []string) {
	u.removeTemps(u.stagingDir())
	u.removeTemps(filepath.Join(u.cfg.Root, "releases"))
	owned := ""
	if op := u.journaled(); op != nil && op.Bundle != "" {
		owned = u.staged(op)
	} else {
		// A layout no operation owns was cut short before its journal.
		u.removeLayout()
	}
	for _, pattern := range patterns {
		found, _ := filepath.Glob(filepath.Join(u.stagingDir(), pattern))
		for _, f := range found {
			if f == owned {
				continue
			}
			if err := os.Remove(f); err == nil {
				u.Log("removed %s, left in staging by an interrupted beamupd", filepath.Base(f))
			}
		}
	}
}

// removeTemps removes from dir what a durable write cut short left under
// a temporary name.
func (u *Updater) removeTemps(dir string) {
	for _, name := range durable.RemoveTemps(dir) {
		u.Log("removed %s, left by a write an interrupted beamupd did not finish", name)
	}
}
