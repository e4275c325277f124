package daemon

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beamup/beamup/bundle"
	"github.com/beamup/beamup/report"
)

// fakeUpdater runs operations that block until released.
type fakeUpdater struct {
	release chan struct{}
	started chan struct{} // optional: told when an install begins
	staged  bool
	read    chan []byte // optional: what the install read, once released
	fetched chan int64  // optional: the last length a fetch said had verified
	// learning, optional, is told when LearnBase begins; LearnBase then
	// runs until its context is done, and tells learnt.
	learning, learnt chan struct{}
}

func (f *fakeUpdater) LearnBase(ctx context.Context) {
	if f.learning == nil {
		return
	}
	f.learning <- struct{}{}
	<-ctx.Done()
	f.learnt <- struct{}{}
}

func (f *fakeUpdater) Resume(context.Context) (*report.Result, error) { return nil, nil }
func (f *fakeUpdater) InstallFrom(ctx context.Context, name string, r io.Reader) (*report.Result, error) {
	if f.started != nil {
		f.started <- struct{}{}
	}
	<-f.release
	if f.read != nil {
		b, err := io.ReadAll(r)
		if err != nil {
			return &report.Result{Outcome: report.Rejected, Reason: err.Error()}, nil
		}
		f.read <- b
	}
	if f.staged {
		return &report.Result{Outcome: report.Staged}, nil
	}
	return &report.Result{Outcome: report.Committed}, nil
}
func (f *fakeUpdater) InstallFetched(ctx context.Context, name string, h *bundle.Header, path string, fetch func(context.Context, func(int64)) error) (*report.Result, error) {
	var got int64
	if err := fetch(ctx, func(n int64) { got = n }); err != nil {
		return nil, err
	}
	if f.fetched != nil {
		f.fetched <- got
	}
	return &report.Result{Outcome: report.Committed}, nil
}
func (f *fakeUpdater) Rollback(context.Context) (*report.Result, error)       { return nil, nil }
func (f *fakeUpdater) Status(context.Context) (*report.Status, error)         { return nil, nil }
func (f *fakeUpdater) Check(context.Context, *bundle.Header) error            { return nil }
func (f *fakeUpdater) TryAgent(context.Context) (bool, *report.Result, error) { return true, nil, nil }

// notes records what the loop tells systemd.
type notes struct {
	mu      sync.Mutex
	ready   chan struct{}
	dogs    int
	extends int
}

func (n *notes) Ready(string)  { close(n.ready) }
func (n *notes) Status(string) {}
func (n *notes) ExtendTimeout(time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.extends++
}
func (n *notes) extended() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.extends
}
func (n *notes) Watchdog() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dogs++
}
func (n *notes) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.dogs
}

func start(t *testing.T, f *fakeUpdater, stuckAfter time.Duration, transports ...func(context.Context) error) (*Daemon, *notes, chan error, context.CancelFunc) {
	t.Helper()
	n := &notes{ready: make(chan struct{})}
	var logs strings.Builder
	var mu sync.Mutex
	d := New(Config{Watchdog: 20 * time.Millisecond, StuckAfter: stuckAfter, Notify: n, Transports: transports, LearnAfter: 10 * time.Millisecond,
		Log: func(format string, args ...any) { mu.Lock(); logs.WriteString(format); mu.Unlock() }}, f)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- d.Run(ctx) }()
	<-n.ready
	return d, n, errc, cancel
}

// waitDogs waits until the watchdog has been fed more than n times.
func waitDogs(t *testing.T, no *notes, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for no.count() <= n {
		if time.Now().After(deadline) {
			t.Fatalf("watchdog fed %d times, want more than %d", no.count(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A second request while one runs is refused at once with busy.
func TestBusy(t *testing.T) {
	f := &fakeUpdater{release: make(chan struct{}), started: make(chan struct{}, 1)}
	d, _, errc, cancel := start(t, f, time.Minute, func(ctx context.Context) error { <-ctx.Done(); return nil })
	first := make(chan error, 1)
	go func() { _, err := d.InstallFrom(context.Background(), "a", nil); first <- err }()
	<-f.started
	_, err := d.InstallFrom(context.Background(), "b", nil)
	if !errors.Is(err, report.ErrBusy) || !strings.Contains(err.Error(), "install a") {
		t.Errorf("second install: %v, want busy naming the first", err)
	}
	close(f.release)
	if err := <-first; err != nil {
		t.Errorf("first install: %v", err)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// An operation that stays silent past StuckAfter starves the watchdog;
// one that reports progress keeps it fed.
func TestStuckOperationStarvesWatchdog(t *testing.T) {
	f := &fakeUpdater{release: make(chan struct{})}
	d, n, _, cancel := start(t, f, 200*time.Millisecond, func(ctx context.Context) error { <-ctx.Done(); return nil })
	defer cancel()
	go d.InstallFrom(context.Background(), "slow", nil)
	for range 10 { // progress for 0.5 s, longer than StuckAfter
		time.Sleep(50 * time.Millisecond)
		d.Progress()
	}
	waitDogs(t, n, n.count())
	time.Sleep(400 * time.Millisecond) // silent past StuckAfter
	fed := n.count()
	time.Sleep(200 * time.Millisecond)
	if n.count() != fed {
		t.Errorf("watchdog fed %d more times while the operation was stuck", n.count()-fed)
	}
	close(f.release)
	waitDogs(t, n, fed) // done: fed again
}

// A staged agent stops the transports, is tried once they are down, and
// a kept one ends Run with ErrHandover.
func TestStagedAgentHandsOver(t *testing.T) {
	f := &fakeUpdater{release: make(chan struct{}), staged: true}
	stopped := make(chan struct{})
	d, _, errc, cancel := start(t, f, time.Minute, func(ctx context.Context) error {
		<-ctx.Done()
		close(stopped)
		return nil
	})
	defer cancel()
	close(f.release)
	if _, err := d.InstallFrom(context.Background(), "agent", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrHandover) {
			t.Errorf("Run: %v, want ErrHandover", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no handover")
	}
	select {
	case <-stopped:
	default:
		t.Error("handed over with a transport still running")
	}
}

// SIGTERM does not cut an operation in two: Run waits for it, asking
// systemd for more time while it does.
func TestStopWaitsForTheOperation(t *testing.T) {
	f := &fakeUpdater{release: make(chan struct{}), started: make(chan struct{}, 1)}
	d, n, errc, cancel := start(t, f, time.Minute, func(ctx context.Context) error { <-ctx.Done(); return nil })
	go d.InstallFrom(context.Background(), "long", nil)
	<-f.started
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for n.extended() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no EXTEND_TIMEOUT_USEC while stopping")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-errc:
		t.Fatalf("Run returned %v with the operation under way", err)
	default:
	}
	close(f.release)
	if err := <-errc; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// A download that is part of an operation keeps the watchdog fed while
// its chunks verify, for longer than an operation may stay silent; what
// it verified reaches the updater.
func TestFetchCountsAsProgress(t *testing.T) {
	f := &fakeUpdater{fetched: make(chan int64, 1)}
	d, n, _, cancel := start(t, f, 200*time.Millisecond, func(ctx context.Context) error { <-ctx.Done(); return nil })
	defer cancel()
	fed := n.count()
	done := make(chan error, 1)
	go func() {
		_, err := d.InstallFetched(context.Background(), "mqtt", nil, "", func(ctx context.Context, verified func(int64)) error {
			for i := range 10 { // 0.5 s in all, past StuckAfter
				time.Sleep(50 * time.Millisecond)
				verified(int64(i+1) << 20)
			}
			return nil
		})
		done <- err
	}()
	time.Sleep(400 * time.Millisecond)
	waitDogs(t, n, fed+5) // fed on, past StuckAfter
	if err := <-done; err != nil {
		t.Fatalf("InstallFetched: %v", err)
	}
	if got := <-f.fetched; got != 10<<20 {
		t.Errorf("the updater was told %d bytes verified, want %d", got, 10<<20)
	}
}

// A while after an install commits, the idle loop has the device learn
// its release root; the next request stops that and runs at once.
func TestLearnsAfterACommitUntilARequest(t *testing.T) {
	f := &fakeUpdater{release: make(chan struct{}), learning: make(chan struct{}, 1), learnt: make(chan struct{}, 1)}
	close(f.release)
	d, _, errc, cancel := start(t, f, time.Minute, func(ctx context.Context) error { <-ctx.Done(); return nil })
	select {
	case <-f.learning:
		t.Fatal("LearnBase before any commit")
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := d.InstallFrom(context.Background(), "a", nil); err != nil {
		t.Fatalf("install: %v", err)
	}
	select {
	case <-f.learning:
	case <-time.After(5 * time.Second):
		t.Fatal("no LearnBase after the commit")
	}
	r, err := d.InstallFrom(context.Background(), "b", nil)
	if err != nil || r.Outcome != report.Committed {
		t.Fatalf("install during LearnBase: %v, %v; want it run, not busy", r, err)
	}
	select {
	case <-f.learnt:
	default:
		t.Error("the install ran while LearnBase went on")
	}
	// The second commit learns again.
	select {
	case <-f.learning:
	case <-time.After(5 * time.Second):
		t.Fatal("no LearnBase after the second commit")
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Run: %v", err)
	}
	select {
	case <-f.learnt:
	default:
		t.Error("Run returned with LearnBase under way")
	}
}
