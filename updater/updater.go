// Package updater installs signed release bundles on a device: it verifies
// them, upgrades the BEAM node through release_handler, checks its health,
// commits, and reverts to the permanent release when anything fails. The
// steps of an install are listed in order in Install (install.go); each
// step's work is in a file of its own (step_*.go).
package updater

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"aead.dev/minisign"

	"github.com/beamup/beamup/beam"
	"github.com/beamup/beamup/delta"
	"github.com/beamup/beamup/internal/failpoint"
	"github.com/beamup/beamup/otprel"
	"github.com/beamup/beamup/plan"
	"github.com/beamup/beamup/report"
)

// Node is what the updater needs of the BEAM node; *beam.Client has it.
type Node interface {
	WhichReleases(ctx context.Context) ([]beam.ReleaseStatus, error)
	SetUnpacked(ctx context.Context, relFile string) (string, error)
	CheckInstallRelease(ctx context.Context, vsn string) (string, error)
	InstallRelease(ctx context.Context, vsn string, opts beam.InstallOptions) (string, error)
	MakePermanent(ctx context.Context, vsn string) error
	RemoveRelease(ctx context.Context, vsn string) error
	MarkBootOnce(ctx context.Context, root, vsn string) error
	MakeRelup(ctx context.Context, root, oldRel, newRel string) error
	SetRemoved(ctx context.Context, vsn string) error
	CreateRELEASES(ctx context.Context, root, relFile string) error
	OSPid(ctx context.Context) (string, error)
	Incarnation(ctx context.Context) (string, error)
	SwapConsolidated(ctx context.Context, root, vsn string) ([]string, error)
	ApplyRuntimeConfig(ctx context.Context, root, vsn string) (bool, error)
	Booted(ctx context.Context) (bool, error)
	StartedApps(ctx context.Context) ([]otprel.App, error)
	OldCodeProcesses(ctx context.Context, mods []string, max int) (beam.OldCode, error)
	Exported(ctx context.Context, mod, fun string, arity int) (bool, error)
	CallHealth(ctx context.Context, mod, fun string) error
	RebootOldRelease(ctx context.Context, vsn string) error
}

// Control restarts the node; see package board.
type Control interface {
	Restart(ctx context.Context) error
}

// Config is what an Updater needs to know of the device.
type Config struct {
	// Device is the device's id, as its status names it.
	Device   string
	StateDir string
	// Root is the release root of the target system on the node's host.
	Root string
	// Release is the name of the node's release; bundles of another name
	// are refused. Empty accepts the name the node runs.
	Release string
	Board   string
	Keys    []minisign.PublicKey

	Install        beam.InstallOptions
	InstallTimeout time.Duration // bound on install_release
	BootTimeout    time.Duration // bound on the node coming back and booting
	Health         HealthConfig
	Agent          AgentConfig
}

// AgentConfig is what self-update needs to know of the running beamupd.
type AgentConfig struct {
	Path     string // the executable that a new beamupd replaces
	Version  string // the running beamupd's version
	Arch     string // the running beamupd's arch, as manifests name it
	Attempts int    // trials a new beamupd gets before it is given up
	// Trier runs a new beamupd on trial; nil refuses agent bundles.
	Trier Trier
}

// Trier runs a new beamupd executable and tells why it is not fit to
// replace the running one, or nil; agent.Trial is one.
type Trier interface {
	Try(ctx context.Context, exe string) error
}

// HealthConfig says when a node counts as healthy.
type HealthConfig struct {
	// Module and Function name the optional health function, which must
	// return ok; empty when none is configured.
	Module, Function string
	Soak             time.Duration // how long it must keep passing
	Interval         time.Duration // between two checks during the soak
	Timeout          time.Duration // bound on one check
}

// Updater runs one operation at a time on a device.
type Updater struct {
	cfg      Config
	node     Node
	control  Control
	journal  *JournalStore
	security *SecurityStore
	// Report receives an event for each thing an operation does, for the
	// user and for every reporter.
	Report func(report.Event)
	// current names the operation under way and its step in events;
	// the trial of a new beamupd reports from goroutines of its own.
	current atomic.Pointer[report.Event]
	// rebuilt is what the rebuild of a delta confirmed of the base's
	// hashes, kept once the operation has committed (base-hashes.json).
	rebuilt atomic.Pointer[delta.Seen]
}

// New returns an Updater; it does not touch the device.
func New(cfg Config, node Node, control Control) *Updater {
	return &Updater{
		cfg:      cfg,
		node:     node,
		control:  control,
		journal:  NewJournalStore(cfg.StateDir),
		security: NewSecurityStore(cfg.StateDir),
		Report:   func(report.Event) {},
	}
}

func (u *Updater) stagingDir() string { return filepath.Join(u.cfg.StateDir, "staging") }

// enter journals that op is about to take step. The journal is written
// before the step acts, so that after a crash resume knows what may have
// happened.
func (u *Updater) enter(op *Operation, step plan.Step) error {
	data, err := u.entry(op, step)
	if err == nil {
		err = u.journal.write(data)
	}
	if err != nil {
		return err
	}
	failpoint.Hit(string(step))
	return nil
}

// enterWhileActing is enter for a step that acts while it is journaled
// (plan.Def.JournaledWhileActing), which saves the wait for the disk: the
// record is made now, before the step changes op, and written beside the
// step; wait returns how the write went, and must be called before
// anything else is journaled.
func (u *Updater) enterWhileActing(op *Operation, step plan.Step) (wait func() error) {
	data, err := u.entry(op, step)
	if err != nil {
		return func() error { return err }
	}
	written := make(chan error, 1)
	go func() { written <- u.journal.write(data) }()
	failpoint.Hit(string(step))
	return func() error { return <-written }
}

// entry puts op at step, in the journal's record and in the events, and
// returns the record that journals it.
func (u *Updater) entry(op *Operation, step plan.Step) ([]byte, error) {
	op.Step = step
	u.current.Store(&report.Event{Kind: op.Kind, Bundle: op.Bundle, Version: op.Version, Step: string(step)})
	j, err := u.journal.Load()
	if err != nil {
		return nil, err
	}
	j.Op = op
	return encode(j)
}

// save journals op as it is, durably.
func (u *Updater) save(op *Operation) error {
	j, err := u.journal.Load()
	if err != nil {
		return err
	}
	j.Op = op
	return u.journal.Save(j)
}

// Log reports one line of what the operation under way does.
func (u *Updater) Log(format string, args ...any) {
	var e report.Event
	if c := u.current.Load(); c != nil {
		e = *c
	}
	e.At, e.Message = time.Now().UTC(), fmt.Sprintf(format, args...)
	u.Report(e)
}

// finish ends op with an outcome and records it as the last result.
func (u *Updater) finish(op *Operation, outcome report.Outcome, reason string) *report.Result {
	r := &report.Result{Kind: op.Kind, Bundle: op.Bundle, Name: op.Name, Version: op.Version,
		Outcome: outcome, Reason: reason, At: time.Now().UTC()}
	j, err := u.journal.Load()
	if err != nil {
		j = &Journal{}
	}
	// Only this operation's files: a download in progress stays. A
	// release's go before the journal says it ended, so that a kill
	// between the two leaves nothing for the next start to find: no way
	// back from a step needs them, the release being laid out. A new
	// beamupd's stays until then: resuming its swap needs it.
	removeStaged := func() {
		os.Remove(u.incoming())
		if op.Bundle != "" {
			os.Remove(u.staged(op))
		}
	}
	if op.Kind != KindSelfUpdate {
		removeStaged()
	}
	j.Op = nil
	j.Last = r
	u.current.Store(nil)
	if err := u.journal.Save(j); err != nil {
		u.Log("journal: %v", err)
	}
	removeStaged()
	return r
}

// result turns a finished operation into the error its outcome stands for.
func result(r *report.Result) (*report.Result, error) {
	if r.Outcome == report.Committed {
		return r, nil
	}
	return r, &report.Error{Outcome: r.Outcome, Err: fmt.Errorf("%s", r.Reason)}
}

// AgentPath is the executable that self-update replaces.
func (u *Updater) AgentPath() string { return u.cfg.Agent.Path }
