package mqtt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"aead.dev/minisign"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/beamup/beamup/bundle"
	"github.com/beamup/beamup/report"
)

// Installer is what the device side needs of the updater.
type Installer interface {
	Check(ctx context.Context, h *bundle.Header) error
	// InstallFetched installs a bundle whose payload fetch downloads into
	// path as the operation's first step, and takes the file over unless
	// the fetch broke off (a *report.TransferError).
	InstallFetched(ctx context.Context, name string, h *bundle.Header, path string, fetch func(ctx context.Context, verified func(n int64)) error) (*report.Result, error)
	Status(ctx context.Context) (*report.Status, error)
}

// DeviceConfig describes the device on the broker.
type DeviceConfig struct {
	Conn     Options
	Topics   Topics
	Device   string
	Board    string
	Groups   []string
	StateDir string
	Fetcher  Fetcher // Keys, Window and Timeout; the rest is set by Run
	// TargetKeys are the keys a target document must be signed by.
	TargetKeys []minisign.PublicKey
	// Retry is how long a download that failed for a passing reason (the
	// broker went away, a chunk did not come) waits before it is tried
	// again (default 30s).
	Retry time.Duration
}

// Device follows the targets that name this device and its groups,
// fetches and installs the bundle they point to, and publishes its status.
// One goroutine (Run's) owns the state; the MQTT client's handlers only
// record what arrived and wake it.
type Device struct {
	cfg   DeviceConfig
	inst  Installer
	log   func(format string, args ...any)
	tried *tried
	seqs  *sequences // guarded by mu

	client  paho.Client
	mu      sync.Mutex
	targets map[string]string // topic -> bundle id
	wake    chan struct{}
	// statusc asks publishLater for the status again: an install's events
	// do not wait while the status is read and published.
	statusc chan struct{}
	pmu     sync.Mutex // one status read and published at a time, in order

	// What the transport does, written by its loop and read by the
	// operation's goroutine (Event) and by status publishing.
	amu sync.Mutex
	act activity
}

// activity is what the transport is doing, beside the updater's state.
type activity struct {
	state      string // idle, downloading or installing
	bundle     string
	progress   *report.Progress
	lastReject *report.LastResult // an offer refused before the updater saw it
}

// doing changes the activity.
func (d *Device) doing(change func(a *activity)) {
	d.amu.Lock()
	defer d.amu.Unlock()
	change(&d.act)
}

// activity returns a copy of the activity.
func (d *Device) activity() activity {
	d.amu.Lock()
	defer d.amu.Unlock()
	return d.act
}

// NewDevice returns a device; Run connects it.
func NewDevice(cfg DeviceConfig, inst Installer, log func(string, ...any)) *Device {
	if cfg.Retry == 0 {
		cfg.Retry = 30 * time.Second
	}
	return &Device{cfg: cfg, inst: inst, log: log, tried: loadTried(cfg.StateDir), seqs: loadSequences(cfg.StateDir),
		targets: map[string]string{}, wake: make(chan struct{}, 1), statusc: make(chan struct{}, 1), act: activity{state: "idle"}}
}

// targetTopics are the topics a device follows, most specific first: its
// own, its named groups in order, its board, all.
func (d *Device) targetTopics() []string {
	t := []string{d.cfg.Topics.DeviceTarget(d.cfg.Device)}
	for _, g := range d.cfg.Groups {
		t = append(t, d.cfg.Topics.GroupTarget(g))
	}
	if d.cfg.Board != "" {
		t = append(t, d.cfg.Topics.GroupTarget(d.cfg.Board))
	}
	return append(t, d.cfg.Topics.GroupTarget("all"))
}

// Run connects and serves until ctx is done.
func (d *Device) Run(ctx context.Context) error {
	reconnected := make(chan struct{}, 1)
	conn := d.cfg.Conn
	conn.WillTopic = d.cfg.Topics.Status(d.cfg.Device)
	conn.WillPayload = []byte(`{"state":"offline"}`)
	conn.Reconnect = true
	conn.OnConnect = func(c paho.Client) {
		for _, topic := range d.targetTopics() {
			c.Subscribe(topic, 1, d.onTarget)
		}
		select {
		case reconnected <- struct{}{}:
		default:
		}
		d.poke()
		d.log("mqtt: connected to %s", d.cfg.Conn.Broker)
	}
	conn.OnLost = func(err error) { d.log("mqtt: connection to %s lost: %v; reconnecting", conn.Broker, err) }
	var c paho.Client
	for backoff := time.Second; ; backoff = min(2*backoff, 30*time.Second) {
		var err error
		if c, err = Connect(ctx, conn); err == nil {
			break
		}
		d.log("mqtt: %v; retrying in %s", err, backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
	}
	d.client = c
	defer c.Disconnect(250)
	stop := make(chan struct{})
	var publishing sync.WaitGroup
	publishing.Go(func() { d.publishLater(stop) })
	defer func() { close(stop); publishing.Wait() }()
	f := d.cfg.Fetcher
	f.Client, f.Topics, f.Dir, f.Reconnected = c, d.cfg.Topics, d.cfg.StateDir+"/staging", reconnected
	f.Direct = &d.cfg.Conn

	var retry <-chan time.Time
	announced := ""
	for {
		select {
		case <-ctx.Done():
			d.publishStatus(context.Background())
			return nil
		case <-d.wake:
		case <-retry:
		}
		retry = nil
		d.publishStatus(ctx)
		want := d.want()
		if want == "" {
			continue
		}
		d.learn(ctx, want, f.Dir)
		if o, ok := d.tried.get(want); ok {
			if announced != want {
				d.event(want, "bundle %.12s ended %s here: not tried again while a target names it", want, o)
				announced = want
			}
			continue
		}
		if transient := d.apply(ctx, &f, want); transient {
			retry = time.After(d.cfg.Retry)
		}
	}
}

// onTarget takes a target that arrived: signed for this topic's scope,
// not expired, and not older than one accepted before, or refused with
// the reason in the log, the events and the status. An empty message
// clears the target.
func (d *Device) onTarget(_ paho.Client, m paho.Message) {
	bundle := ""
	if len(m.Payload()) > 0 {
		doc, err := OpenTarget(m.Payload(), d.cfg.TargetKeys, d.scopeOf(m.Topic()), time.Now())
		if err == nil {
			d.mu.Lock()
			err = d.seqs.accept(doc)
			d.mu.Unlock()
		}
		if err != nil {
			d.refuseTarget(m.Topic(), doc.Bundle, err, m.Payload())
			return
		}
		bundle = doc.Bundle
	}
	d.mu.Lock()
	d.targets[m.Topic()] = bundle
	d.mu.Unlock()
	d.poke()
}

// refuseTarget says why the target on topic was refused; the target the
// device followed before stays.
func (d *Device) refuseTarget(topic, bundle string, err error, payload []byte) {
	reason := fmt.Sprintf("ignoring %s: %v", topic, err)
	d.log("mqtt: %s (%q)", reason, truncate(payload))
	d.publishEvent(bundle, reason)
	d.doing(func(a *activity) {
		a.lastReject = &report.LastResult{Bundle: bundle, Outcome: report.Rejected, Reason: reason, At: time.Now().UTC()}
	})
	d.publishStatus(context.Background())
}

// scopeOf is the scope a target on topic must be for.
func (d *Device) scopeOf(topic string) string {
	if topic == d.cfg.Topics.DeviceTarget(d.cfg.Device) {
		return DeviceScope(d.cfg.Device)
	}
	return GroupScope(strings.TrimPrefix(topic, d.cfg.Topics.GroupTarget("")))
}

func (d *Device) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// want is the bundle the most specific target names.
func (d *Device) want() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, topic := range d.targetTopics() {
		if b := d.targets[topic]; b != "" {
			return b
		}
	}
	return ""
}

// apply fetches and installs bundle id. It reports whether a failure was
// passing (worth a retry) rather than the bundle's fault.
func (d *Device) apply(ctx context.Context, f *Fetcher, id string) (transient bool) {
	d.doing(func(a *activity) { a.state, a.bundle, a.progress = "downloading", id, nil })
	d.publishStatus(ctx)
	defer func() {
		d.doing(func(a *activity) { a.state, a.bundle, a.progress = "idle", "", nil })
		d.publishStatus(ctx)
	}()

	h, err := f.Offer(ctx, id)
	if err != nil {
		if errors.Is(err, errTimeout) || ctx.Err() != nil {
			d.event(id, "offer of bundle %.12s: %v; trying again later", id, err)
			return true
		}
		d.reject(id, fmt.Errorf("offer: %w", err))
		return false
	}
	defer f.Drop() // the early chunks, if the payload is not fetched
	if err := d.inst.Check(ctx, h); err != nil {
		if report.OutcomeOf(err) != report.Rejected {
			// No room, for now: the device's problem, not the bundle's.
			d.event(id, "bundle %.12s: %v; trying again later", id, err)
			return true
		}
		d.reject(id, err)
		return false
	}
	if s, err := d.inst.Status(ctx); err == nil && s.Release != nil &&
		s.Release.Name == h.Manifest.Name && s.Release.Version == h.Manifest.Version {
		d.event(id, "%s %s already runs", h.Manifest.Name, h.Manifest.Version)
		d.tried.set(id, report.Committed)
		return false
	}
	// The download is the install's first step: the release is laid out
	// as the chunks come.
	r, err := d.inst.InstallFetched(ctx, "bundle "+id[:12]+" from MQTT", h, f.Path(id), func(ctx context.Context, verified func(int64)) error {
		d.event(id, "downloading %s %s (%d bytes)", h.Manifest.Name, h.Manifest.Version, h.Manifest.Payload.Size)
		lastSent := time.Time{}
		st, err := f.Fetch(ctx, h, func(done, total int64) {
			d.doing(func(a *activity) { a.progress = &report.Progress{Done: done, Total: total} })
			if time.Since(lastSent) > 500*time.Millisecond || done == total {
				lastSent = time.Now()
				d.publishStatus(ctx)
			}
		}, verified)
		if st.Fallback != nil {
			d.log("mqtt: chunks of bundle %.12s through the main connection: %v", id, st.Fallback)
		}
		if err != nil {
			if report.OutcomeOf(err) == report.Rejected {
				return err
			}
			return &report.TransferError{Err: fmt.Errorf("download of bundle %.12s: %w", id, err)}
		}
		d.event(id, "downloaded bundle %.12s: %d chunks, %d verified from an earlier attempt, %d fetched, %d received twice, %d on a connection of their own",
			id, st.Total, st.Resumed, st.Fetched, st.Duplicates, st.Direct)
		d.doing(func(a *activity) { a.state, a.progress = "installing", nil })
		d.publishStatus(ctx)
		return nil
	})
	if r == nil {
		var broken *report.TransferError
		if errors.As(err, &broken) {
			d.event(id, "%v; resuming later", broken.Err)
			return true
		}
		d.event(id, "install: %v", err)
		return errors.Is(err, report.ErrBusy)
	}
	d.tried.set(id, r.Outcome)
	d.event(id, "%s: %s", r.Outcome, r.Reason)
	return false
}

// learn remembers how bundle id ended if the updater's last result is its:
// an install that a crash or a kill cut short was ended by the journal's
// resume, before this transport ran, and must not start again by itself;
// a self-update ends in the new beamupd. The download a crash left behind
// goes too.
func (d *Device) learn(ctx context.Context, id, dir string) {
	s, err := d.inst.Status(ctx)
	if err != nil || s.LastResult == nil || s.LastResult.Bundle != id {
		return
	}
	d.tried.set(id, s.LastResult.Outcome)
	os.Remove(downloadPath(dir, id))
}

func (d *Device) reject(id string, err error) {
	d.tried.set(id, report.Rejected)
	d.event(id, "rejected bundle %.12s: %v", id, err)
	d.doing(func(a *activity) {
		a.lastReject = &report.LastResult{Bundle: id, Outcome: report.Rejected, Reason: err.Error(), At: time.Now().UTC()}
	})
}

// Event publishes a step event about the bundle under way; the updater's
// log lines go here while the daemon runs.
func (d *Device) Event(e report.Event) {
	a := d.activity()
	bundle := e.Bundle
	if bundle == "" {
		bundle = a.bundle
	}
	d.publishEvent(bundle, e.Message)
	if a.state == "installing" {
		// Each step says so in the retained status too (installing
		// (cold), rebooting, checking...), soon: the step goes on.
		select {
		case d.statusc <- struct{}{}:
		default: // one is asked for already, and reads the state then
		}
	}
}

// publishLater publishes the status each time Event asks, until stop.
// The status takes a call to the node (which_releases), which would
// otherwise hold up every step of the install, and wait behind
// release_handler while it installs.
func (d *Device) publishLater(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-d.statusc:
			d.publishStatus(context.Background())
		}
	}
}

// event logs a transport event about bundle and publishes it.
func (d *Device) event(bundle, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	d.log("mqtt: %s", msg)
	d.publishEvent(bundle, msg)
}

func (d *Device) publishEvent(bundle, msg string) {
	if d.client == nil {
		return
	}
	data, _ := json.Marshal(map[string]any{"at": time.Now().UTC(), "bundle": bundle, "message": msg})
	d.client.Publish(d.cfg.Topics.Events(d.cfg.Device), 1, false, data)
}

// publishStatus publishes the retained status: the updater's, with what
// the transport is doing.
func (d *Device) publishStatus(ctx context.Context) {
	// Read and published under one lock, so that a status read earlier
	// is never published after one read later.
	d.pmu.Lock()
	defer d.pmu.Unlock()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	s, err := d.inst.Status(sctx)
	if err != nil {
		s = &report.Status{State: "failed"}
	}
	a := d.activity()
	switch {
	case a.state == "downloading":
		s.State, s.Bundle, s.Progress = a.state, a.bundle, a.progress
	case a.state == "installing":
		// The updater's own state says which step (verifying,
		// installing (cold), rebooting, checking...).
		s.Bundle = a.bundle
		if !s.Underway() {
			s.State = "installing"
		}
	}
	if r := a.lastReject; r != nil && (s.LastResult == nil || r.At.After(s.LastResult.At)) {
		s.LastResult = r
		if a.state == "idle" {
			s.State = "rejected"
		}
	}
	data, _ := json.Marshal(s)
	d.client.Publish(d.cfg.Topics.Status(d.cfg.Device), 1, true, data)
}

var hexSHA = regexp.MustCompile(`^[0-9a-f]{64}$`)

func isID(s string) bool { return hexSHA.MatchString(s) }

func truncate(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}
