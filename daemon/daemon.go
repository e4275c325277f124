// Package daemon is beamupd's main loop. One goroutine owns the device's
// state: it takes requests from the transports, runs one operation at a
// time, and feeds systemd's watchdog and the hardware watchdog only while
// it makes progress, so that a deadlocked loop or a stuck operation lets
// them fire and the journal finishes the work after the restart.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/beamup/beamup/bundle"
	"github.com/beamup/beamup/report"
)

// Updater is what the loop needs of the updater.
type Updater interface {
	Resume(ctx context.Context) (*report.Result, error)
	InstallFrom(ctx context.Context, name string, r io.Reader) (*report.Result, error)
	InstallFetched(ctx context.Context, name string, h *bundle.Header, path string, fetch func(ctx context.Context, verified func(n int64)) error) (*report.Result, error)
	Rollback(ctx context.Context) (*report.Result, error)
	Status(ctx context.Context) (*report.Status, error)
	Check(ctx context.Context, h *bundle.Header) error
	// LearnBase brings what the device records of its release root up to
	// date (the base's hashes, for deltas); it stops early when ctx is
	// done. It is called between operations, never during one.
	LearnBase(ctx context.Context)
	// TryAgent tries the agent that InstallFrom staged. When it returns
	// handover, the new binary has replaced the old one and must be
	// executed to finish the self-update.
	TryAgent(ctx context.Context) (handover bool, r *report.Result, err error)
}

// Notifier tells the service manager how the daemon is doing;
// systemd.Notifier is one.
type Notifier interface {
	Ready(status string)
	Status(status string)
	Watchdog()
	ExtendTimeout(d time.Duration)
}

// Feeder is a hardware watchdog; board.Watchdog is one.
type Feeder interface {
	Feed() error
}

// ErrHandover is returned by Run when a new beamupd replaced this one:
// the caller executes the new binary in place of this process.
var ErrHandover = errors.New("handing over to the new beamupd")

// Config is what the loop needs besides the updater.
type Config struct {
	// Watchdog is the interval within which systemd expects WATCHDOG=1
	// (WatchdogSec); 0 when it expects none.
	Watchdog time.Duration
	// StuckAfter is how long an operation may go without a line of
	// progress before it counts as stuck and the watchdogs are starved.
	StuckAfter time.Duration
	Notify     Notifier
	Hardware   Feeder // nil when the board has none
	// Transports serve until their context is done. They are stopped
	// while a new agent is tried, and started again if it is not kept.
	Transports []func(ctx context.Context) error
	Describe   string // what READY's status line says is served
	Log        func(format string, args ...any)
	// LearnAfter is how long after an install commits the loop, idle,
	// calls LearnBase (default 5s): the files the install wrote are then
	// old enough to be recorded.
	LearnAfter time.Duration
	// Stall, for fault-injection builds only, is called at the top of
	// every turn of the loop; it blocks to simulate a deadlock.
	Stall func()
}

// Daemon is the main loop; its methods are what transports call.
type Daemon struct {
	cfg Config
	u   Updater

	reqc     chan request
	donec    chan done
	runDone  chan error
	progress atomic.Int64 // unix nanoseconds of the last line of progress

	reporters []func(report.Event)
	reportMu  sync.Mutex

	// Owned by Run's goroutine.
	op          *request           // the operation under way
	transports  int                // transports running
	stopRunning context.CancelFunc // nil while transports are stopped
	trial       bool               // a staged agent waits to be tried
	stuck       bool
	learnc      <-chan time.Time   // when to call LearnBase; nil for not
	learning    context.CancelFunc // stops the LearnBase under way
	learned     chan struct{}      // LearnBase returned
}

// New returns a loop around u; Run starts it.
func New(cfg Config, u Updater) *Daemon {
	if cfg.Log == nil {
		cfg.Log = func(string, ...any) {}
	}
	if cfg.LearnAfter == 0 {
		cfg.LearnAfter = 5 * time.Second
	}
	return &Daemon{cfg: cfg, u: u, reqc: make(chan request), donec: make(chan done, 1), runDone: make(chan error),
		learned: make(chan struct{}, 1)}
}

// AddTransport adds a transport; call it before Run.
func (d *Daemon) AddTransport(run func(ctx context.Context) error) {
	d.cfg.Transports = append(d.cfg.Transports, run)
}

// Progress records that the operation under way did something; the
// updater's log lines call it.
func (d *Daemon) Progress() { d.progress.Store(time.Now().UnixNano()) }

// AddReporter adds a reporter of events; call it before Run.
func (d *Daemon) AddReporter(r func(report.Event)) { d.reporters = append(d.reporters, r) }

// Report hands an event of the operation under way to every reporter, in
// order, one event at a time, and counts it as progress.
func (d *Daemon) Report(e report.Event) {
	d.Progress()
	d.reportMu.Lock()
	defer d.reportMu.Unlock()
	for _, r := range d.reporters {
		r(e)
	}
}

// request is an operation for the loop to run.
type request struct {
	what  string
	run   func(ctx context.Context) (*report.Result, error)
	reply chan reply // buffered: the loop never waits for a requester
	// agent marks the internal request that tries a staged agent.
	agent bool
	// refused, when set, is called when the request is turned away and
	// run will never be called: what the requester handed over is still
	// its own.
	refused func()
}

type reply struct {
	r   *report.Result
	err error
}

type done struct {
	req      *request
	r        *report.Result
	err      error
	handover bool
}

// tick is how often the loop feeds the watchdogs: twice per systemd
// watchdog interval, and once a second for a hardware one. With neither,
// it wakes only to ask systemd for more time while it starts or stops,
// so that an idle beamupd costs no CPU.
func (d *Daemon) tick() time.Duration {
	t := 10 * time.Second
	if d.cfg.Hardware != nil {
		t = time.Second
	}
	if w := d.cfg.Watchdog / 2; w > 0 && w < t {
		t = w
	}
	return t
}

// Run resumes an interrupted operation, starts the transports, says
// READY, and serves until ctx is done. It returns ErrHandover when a new
// beamupd has replaced this one.
func (d *Daemon) Run(ctx context.Context) error {
	opCtx := context.WithoutCancel(ctx) // SIGTERM waits for a step; it does not cut it
	ticker := time.NewTicker(d.tick())
	defer ticker.Stop()
	resume := &request{what: "resume", run: d.u.Resume, reply: make(chan reply, 1)}
	d.begin(opCtx, resume)
	for {
		if d.cfg.Stall != nil {
			d.cfg.Stall()
		}
		select {
		case <-ctx.Done():
			d.stopLearning()
			return d.stop(ticker)

		case req := <-d.reqc:
			if d.op != nil || d.stopRunning == nil {
				if req.refused != nil {
					req.refused()
				}
				req.reply <- reply{err: fmt.Errorf("%w: %s", report.ErrBusy, d.busyWith())}
				continue
			}
			// What the device learns waits: the request does not.
			d.stopLearning()
			d.begin(opCtx, &req)

		case dn := <-d.donec:
			d.op = nil
			dn.req.reply <- reply{dn.r, dn.err}
			switch {
			case dn.handover:
				return d.handover(ticker)
			case dn.req == resume:
				if dn.err != nil {
					return fmt.Errorf("resuming the journal: %w", dn.err)
				}
				if dn.r != nil {
					d.cfg.Log("%s: %s", dn.r.Outcome, dn.r.Reason)
				}
				d.startTransports(ctx)
				d.cfg.Log("serving %s", d.cfg.Describe)
				d.cfg.Notify.Ready("serving " + d.cfg.Describe)
			case dn.req.agent:
				// The new agent was not kept: serve again with this one.
				d.startTransports(ctx)
			case dn.r != nil && dn.r.Outcome == report.Staged:
				// A new agent is tried with transports of its own, so
				// these stop first; the trial begins once they are down.
				d.trial = true
				d.stopTransports()
			case dn.r != nil && dn.r.Outcome == report.Committed:
				d.learnc = time.After(d.cfg.LearnAfter)
			}
			d.maybeTry(ctx)

		case <-d.learnc:
			d.learnc = nil
			if d.op == nil && !d.trial {
				d.startLearning(ctx)
			}

		case <-d.learned:
			d.learning = nil

		case err := <-d.runDone:
			d.transports--
			if err != nil && d.stopRunning != nil {
				d.stopRunning()
				return err
			}
			d.maybeTry(ctx)

		case <-ticker.C:
			if d.op == resume {
				d.cfg.Notify.ExtendTimeout(3 * d.tick()) // still starting
			}
			d.feed()
		}
	}
}

// startLearning runs LearnBase in a goroutine of its own, beside the
// transports, until it returns or a request comes.
func (d *Daemon) startLearning(ctx context.Context) {
	lctx, cancel := context.WithCancel(ctx)
	d.learning = cancel
	go func() {
		d.u.LearnBase(lctx)
		d.learned <- struct{}{}
	}()
}

// stopLearning ends the LearnBase under way, if any, and waits for it.
func (d *Daemon) stopLearning() {
	if d.learning == nil {
		return
	}
	d.learning()
	<-d.learned
	d.learning = nil
}

// maybeTry begins the trial of a staged agent once nothing else runs. Its
// context is the daemon's: stopping beamupd ends a trial, which has not
// changed anything yet.
func (d *Daemon) maybeTry(ctx context.Context) {
	if d.trial && d.transports == 0 && d.op == nil {
		d.trial = false
		d.stopLearning()
		d.begin(ctx, &request{what: "self-update", agent: true, reply: make(chan reply, 1)})
	}
}

// begin runs req in a goroutine of its own; the loop stays free to feed
// the watchdogs and to turn other requests away.
func (d *Daemon) begin(ctx context.Context, req *request) {
	d.op = req
	d.stuck = false
	d.Progress()
	go func() {
		var dn done
		if req.agent {
			dn.handover, dn.r, dn.err = d.u.TryAgent(ctx)
		} else {
			dn.r, dn.err = req.run(ctx)
		}
		dn.req = req
		d.donec <- dn
	}()
}

// busyWith names what keeps the loop from taking a request: the
// operation under way, or, between two operations with the transports
// stopped, the self-update waiting for them.
func (d *Daemon) busyWith() string {
	if d.op != nil {
		return d.op.what
	}
	return "self-update"
}

// feed keeps the watchdogs quiet while the operation under way makes
// progress. One that has been silent past StuckAfter starves them: the
// service manager restarts beamupd, and the journal resumes the work.
func (d *Daemon) feed() {
	if d.op != nil {
		silent := time.Since(time.Unix(0, d.progress.Load()))
		if d.cfg.StuckAfter > 0 && silent > d.cfg.StuckAfter {
			if !d.stuck {
				d.stuck = true
				d.cfg.Log("%s made no progress for %s: stuck; the watchdog is no longer fed", d.op.what, silent.Round(time.Second))
			}
			return
		}
	}
	if d.cfg.Watchdog > 0 {
		d.cfg.Notify.Watchdog()
	}
	if d.cfg.Hardware != nil {
		if err := d.cfg.Hardware.Feed(); err != nil {
			d.cfg.Log("hardware watchdog: %v", err)
		}
	}
}

func (d *Daemon) startTransports(ctx context.Context) {
	rctx, cancel := context.WithCancel(ctx)
	d.stopRunning = cancel
	for _, run := range d.cfg.Transports {
		d.transports++
		go func() { d.runDone <- run(rctx) }()
	}
}

func (d *Daemon) stopTransports() {
	if d.stopRunning != nil {
		d.stopRunning()
		d.stopRunning = nil
	}
}

// stop ends the transports and waits for the operation under way, telling
// systemd it needs more time to stop while it makes progress.
func (d *Daemon) stop(ticker *time.Ticker) error {
	d.stopTransports()
	for d.op != nil || d.transports > 0 {
		if d.op != nil {
			d.cfg.Notify.Status("stopping: waiting for " + d.op.what)
		}
		select {
		case dn := <-d.donec:
			d.op = nil
			dn.req.reply <- reply{dn.r, dn.err}
			if dn.handover {
				return d.handover(ticker)
			}
		case <-d.runDone:
			d.transports--
		case <-ticker.C:
			if d.op != nil {
				d.cfg.Notify.ExtendTimeout(3 * d.tick())
			}
			d.feed()
		}
	}
	return nil
}

// handover waits for the transports, then tells the caller to execute the
// new binary.
func (d *Daemon) handover(ticker *time.Ticker) error {
	for d.transports > 0 {
		select {
		case <-d.runDone:
			d.transports--
		case <-ticker.C:
			d.feed()
		}
	}
	return ErrHandover
}

// do sends an operation to the loop and waits for its outcome.
func (d *Daemon) do(ctx context.Context, what string, run func(context.Context) (*report.Result, error), refused func()) (*report.Result, error) {
	req := request{what: what, run: run, reply: make(chan reply, 1), refused: refused}
	select {
	case d.reqc <- req:
	case <-ctx.Done():
		if refused != nil {
			refused()
		}
		return nil, ctx.Err()
	}
	select {
	case rep := <-req.reply:
		return rep.r, rep.err
	case <-ctx.Done():
		// The operation goes on; its outcome is in the journal.
		return nil, ctx.Err()
	}
}

// InstallFrom installs a bundle read from r, unless an operation is
// under way.
func (d *Daemon) InstallFrom(ctx context.Context, name string, r io.Reader) (*report.Result, error) {
	return d.do(ctx, "install "+name, func(ctx context.Context) (*report.Result, error) {
		return d.u.InstallFrom(ctx, name, r)
	}, nil)
}

// InstallFetched installs a bundle whose payload fetch downloads into
// path as part of the operation (MQTT); each part of the payload that
// verifies counts as progress. A payload given up is removed by the
// updater; one that broke off stays, to be resumed.
func (d *Daemon) InstallFetched(ctx context.Context, name string, h *bundle.Header, path string, fetch func(ctx context.Context, verified func(n int64)) error) (*report.Result, error) {
	return d.do(ctx, "install "+name, func(ctx context.Context) (*report.Result, error) {
		return d.u.InstallFetched(ctx, name, h, path, func(ctx context.Context, verified func(n int64)) error {
			return fetch(ctx, func(n int64) {
				d.Progress()
				verified(n)
			})
		})
	}, nil)
}

// Rollback goes back to the previous release, unless an operation is
// under way.
func (d *Daemon) Rollback(ctx context.Context) (*report.Result, error) {
	return d.do(ctx, "rollback", d.u.Rollback, nil)
}

// Status and Check only read: they need not wait for the loop.
func (d *Daemon) Status(ctx context.Context) (*report.Status, error) { return d.u.Status(ctx) }

func (d *Daemon) Check(ctx context.Context, h *bundle.Header) error { return d.u.Check(ctx, h) }
