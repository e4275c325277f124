package main_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/beamup/beamup/bundle"
	"github.com/beamup/beamup/internal/brokertest"
	"github.com/beamup/beamup/internal/otptest"
	"github.com/beamup/beamup/report"
	"github.com/beamup/beamup/transport/mqtt"
)

// daemon is a running beamupd run. Its output goes to a file when it has
// one, so that a line is there once beamupd has written it: through a
// pipe, it can come after what beamupd published on the broker.
type daemon struct {
	cmd  *exec.Cmd
	file string
	mu   sync.Mutex
	out  bytes.Buffer
}

func (d *daemon) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.Write(p)
}

func (d *daemon) log() string {
	if d.file != "" {
		data, _ := os.ReadFile(d.file)
		return string(data)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.String()
}

func (d *daemon) stop() {
	if d.cmd.Process != nil {
		d.cmd.Process.Kill()
		d.cmd.Wait()
	}
}

// run starts beamupd run on the device; it is stopped when the test ends.
func (d *device) run() *daemon {
	d.t.Helper()
	beamupd, _ := bins(d.t)
	return d.startDaemon(beamupd)
}

func mqttSection(broker string, groups ...string) string {
	q := make([]string, len(groups))
	for i, g := range groups {
		q[i] = fmt.Sprintf("%q", g)
	}
	return fmt.Sprintf("\n[mqtt]\nbroker = %q\ngroups = [%s]\n", broker, strings.Join(q, ", "))
}

// waitStatus waits for the device's retained status to satisfy ok.
func waitStatus(t *testing.T, broker, device string, dm *daemon, ok func(report.Status) bool) report.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, err := mqtt.Connect(ctx, mqtt.Options{Broker: broker, ClientID: fmt.Sprintf("test-%d", time.Now().UnixNano())})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(100)
	var got, last report.Status
	found := false
	wctx, stop := context.WithCancel(ctx)
	mqtt.WatchStatus(wctx, c, mqtt.Topics{Prefix: "beamup"}, device, func(s report.Status) {
		last = s
		if ok(s) {
			got, found = s, true
			stop()
		}
	})
	stop()
	if !found {
		t.Fatalf("device %s: status never matched; last %+v\ndaemon log:\n%s", device, last, dm.log())
	}
	return got
}

func committedOn(vsn string) func(report.Status) bool {
	return func(s report.Status) bool {
		return s.State == "committed" && s.Release != nil && s.Release.Version == vsn
	}
}

func publishBundle(t *testing.T, broker, bundle string, target ...string) string {
	t.Helper()
	_, beamup := bins(t)
	signed(t, "1.0.0") // makes the keys
	args := append(append([]string{"publish", "--broker", broker, "--key", filepath.Join(keyDir, "release.key")}, target...), bundle)
	out := run(t, beamup, args...)
	var id string
	fmt.Sscanf(out, "published bundle %s", &id)
	return id
}

// A bundle published to a group upgrades a device that follows it, and a
// device that connects only later gets it too.
func TestMQTTFleetUpgrade(t *testing.T) {
	t.Parallel()
	broker := brokertest.Start(t, nil)
	url := broker.URL("mqtt")
	a := newDevice(t, "1.0.0", deviceOpts{mqtt: mqttSection(url, "line1")})
	b := newDevice(t, "1.0.0", deviceOpts{mqtt: mqttSection(url, "line1")})
	da := a.run()
	id := publishBundle(t, url, signed(t, "1.1.0", "--chunk-size", "262144"), "--group", "line1")
	s := waitStatus(t, url, a.id, da, committedOn("1.1.0"))
	if s.LastResult == nil || s.LastResult.Outcome != report.Committed || s.Device != a.id || s.AgentVersion == "" {
		t.Errorf("status %+v", s)
	}
	if v := a.runningApp(); v != "1.1.0" {
		t.Errorf("device a runs gauge %s", v)
	}
	// The daemon prepared releases/RELEASES as it started, before any
	// bundle came, not in the install after its last byte.
	if log := da.log(); !regexp.MustCompile(`(?s)prepared releases/RELEASES for gauge 1.0.0\n.*serving mqtt`).MatchString(log) ||
		strings.Count(log, "prepared releases/RELEASES") != 1 {
		t.Errorf("releases/RELEASES was not prepared once, as the daemon started:\n%s", log)
	}
	db := b.run()
	waitStatus(t, url, b.id, db, committedOn("1.1.0"))
	direct(t, da)
	direct(t, db)
	// The log says where the time after the last byte went, step by step.
	if m := regexp.MustCompile(`after the last byte: .* to the first step, verified .*, committing [0-9.]+m?s`).FindString(da.log()); m == "" {
		t.Errorf("the log does not time the steps after the last byte:\n%s", da.log())
	} else {
		t.Log(m)
	}

	// The fleet view lists both.
	_, beamup := bins(t)
	out := run(t, beamup, "status", "--broker", url)
	for _, dev := range []string{a.id, b.id} {
		if !strings.Contains(out, dev) || !strings.Contains(out, "gauge 1.1.0") {
			t.Errorf("beamup status does not show %s on 1.1.0:\n%s", dev, out)
		}
	}

	// Retract with purge leaves nothing of the bundle on the broker.
	out = run(t, beamup, "retract", "--broker", url, "--group", "line1", "--purge")
	if !strings.Contains(out, "purged bundle "+id) {
		t.Errorf("retract: %s", out)
	}
	if left := retainedUnder(t, url, "beamup/targets/line1", "beamup/bundles/"+id+"/#"); len(left) > 0 {
		t.Errorf("retained after retract --purge: %v", left)
	}
}

// direct checks that a device's download came on a connection of its
// own (transport/mqtt's chunkConn), not through the main client.
func direct(t *testing.T, dm *daemon) {
	t.Helper()
	log := dm.log()
	if strings.Contains(log, "through the main connection") || !regexp.MustCompile(`[1-9][0-9]* on a connection of their own`).MatchString(log) {
		t.Errorf("the chunks did not come on a connection of their own:\n%s", log)
	}
}

// retainedUnder lists the topics with a retained message under the
// filters.
func retainedUnder(t *testing.T, url string, filters ...string) []string {
	t.Helper()
	c := connect(t, url)
	defer c.Disconnect(100)
	var mu sync.Mutex
	var topics []string
	for _, f := range filters {
		c.Subscribe(f, 1, func(_ paho.Client, m paho.Message) {
			if m.Retained() && len(m.Payload()) > 0 {
				mu.Lock()
				topics = append(topics, m.Topic())
				mu.Unlock()
			}
		}).Wait()
	}
	time.Sleep(time.Second)
	mu.Lock()
	defer mu.Unlock()
	return topics
}

// The broker dies while a device downloads and comes back: the device
// resumes, and no chunk it had verified is fetched again.
func TestMQTTBrokerKilledDuringDownload(t *testing.T) {
	t.Parallel()
	broker := brokertest.Start(t, nil)
	url := broker.URL("mqtt")
	d := newDevice(t, "1.0.0", deviceOpts{mqtt: mqttSection(url)})
	bundle := signed(t, "1.1.0", "--chunk-size", "65536")
	h := readHeader(t, bundle)
	chunks := readChunks(t, bundle, h)

	// An upload that is under way: the offer, the target and half the
	// chunks are on the broker.
	half := len(chunks) / 2
	c := connect(t, url)
	tp := mqtt.Topics{Prefix: "beamup"}
	for n := 0; n < half; n++ {
		pub(t, c, tp.Chunk(h.ID(), n), chunks[n])
	}
	offer, _ := json.Marshal(mqtt.Offer{Manifest: string(h.Raw), Signature: string(h.Signature)})
	pub(t, c, tp.Offer(h.ID()), offer)
	pub(t, c, tp.GroupTarget("all"), signedTarget(t, "release", mqtt.GroupScope("all"), h.ID(), 0, time.Hour))
	c.Disconnect(100)

	dm := d.run()
	waitStatus(t, url, d.id, dm, func(s report.Status) bool {
		return s.State == "downloading" && s.Progress != nil && s.Progress.Done >= int64(half)*65536
	})
	broker.Kill()
	time.Sleep(time.Second)
	broker.Restart()
	c = connect(t, url)
	for n := half; n < len(chunks); n++ {
		pub(t, c, tp.Chunk(h.ID(), n), chunks[n])
	}
	c.Disconnect(100)

	waitStatus(t, url, d.id, dm, committedOn("1.1.0"))
	want := fmt.Sprintf("%d chunks, 0 verified from an earlier attempt, %d fetched, 0 received twice", len(chunks), len(chunks))
	if !strings.Contains(dm.log(), want) || !strings.Contains(dm.log(), "lost") {
		t.Errorf("the daemon log does not show a lost connection and every chunk fetched once (%q):\n%s", want, dm.log())
	}
}

// Bad offers, bad chunks and garbage are refused or ignored with a reason;
// the daemon keeps running and installs nothing.
func TestMQTTBadInput(t *testing.T) {
	t.Parallel()
	broker := brokertest.Start(t, nil)
	url := broker.URL("mqtt")
	d := newDevice(t, "1.0.0", deviceOpts{mqtt: mqttSection(url)})
	dm := d.run()
	tp := mqtt.Topics{Prefix: "beamup"}
	c := connect(t, url)
	defer c.Disconnect(100)

	// Garbage on every topic the device reads.
	junk := []byte("\x00garbage{")
	for _, topic := range []string{tp.GroupTarget("all"), tp.DeviceTarget(d.id), tp.Offer(strings.Repeat("a", 64)),
		tp.Chunk(strings.Repeat("a", 64), 0), "beamup/devices/" + d.id + "/status"} {
		pub(t, c, topic, junk)
	}
	// A target naming a bundle whose offer is junk.
	pub(t, c, tp.DeviceTarget(d.id), signedTarget(t, "release", mqtt.DeviceScope(d.id), strings.Repeat("a", 64), 0, time.Hour))
	waitStatus(t, url, d.id, dm, func(s report.Status) bool {
		return s.State == "rejected" && s.LastResult != nil && strings.Contains(s.LastResult.Reason, "not an offer")
	})

	// An offer signed with another key.
	_, beamup := bins(t)
	other := t.TempDir() + "/other.bundle"
	run(t, beamup, "bundle", "--key", keyDir+"/other.key", "--release", otptest.Tarball(t, "1.1.0"), "-o", other)
	id := publishBundle(t, url, other, "--device", d.id)
	waitStatus(t, url, d.id, dm, func(s report.Status) bool {
		return s.State == "rejected" && s.LastResult != nil && s.LastResult.Bundle == id &&
			strings.Contains(s.LastResult.Reason, "not signed by a trusted key")
	})

	// A chunk with wrong bytes: the bundle goes to a group this device
	// does not follow, a chunk is overwritten, then the device is pointed
	// at it.
	good := signed(t, "1.1.0", "--chunk-size", "262144")
	id = publishBundle(t, url, good, "--group", "elsewhere")
	h := readHeader(t, good)
	pub(t, c, tp.Chunk(id, 3), bytes.Repeat([]byte{1}, int(h.Manifest.Payload.ChunkSize)))
	pub(t, c, tp.DeviceTarget(d.id), signedTarget(t, "release", mqtt.DeviceScope(d.id), id, 0, time.Hour))
	waitStatus(t, url, d.id, dm, func(s report.Status) bool {
		return s.State == "rejected" && s.LastResult != nil && s.LastResult.Bundle == id &&
			strings.Contains(s.LastResult.Reason, "chunk 3")
	})
	if v := d.runningApp(); v != "1.0.0" {
		t.Errorf("gauge %s runs, want 1.0.0", v)
	}
	if dm.cmd.ProcessState != nil {
		t.Errorf("the daemon exited:\n%s", dm.log())
	}
	if !strings.Contains(dm.log(), "ignoring beamup/targets/all: target refused: not a signed target document") {
		t.Errorf("the daemon did not say it ignored the junk target:\n%s", dm.log())
	}
}

// A bundle that reverted is tried once: after a restart of beamupd the
// retained target still names it, and nothing is downloaded again.
func TestMQTTRevertedBundleIsTriedOnce(t *testing.T) {
	t.Parallel()
	broker := brokertest.Start(t, nil)
	url := broker.URL("mqtt")
	d := newDevice(t, "1.0.0", deviceOpts{mqtt: mqttSection(url)})
	if code, out := d.beamupd("install", signed(t, "1.1.0")); code != 0 {
		t.Fatalf("install 1.1.0: %d\n%s", code, out)
	}
	dm := d.run()
	id := publishBundle(t, url, signed(t, "1.2.0"), "--device", d.id)
	waitStatus(t, url, d.id, dm, func(s report.Status) bool {
		return s.State == "reverted" && s.LastResult != nil && s.LastResult.Bundle == id
	})
	dm.stop()
	dm2 := d.run()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(dm2.log(), "not tried again") {
		if time.Now().After(deadline) {
			t.Fatalf("the restarted daemon did not say it skips the bundle:\n%s", dm2.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if strings.Contains(dm2.log(), "downloading") || strings.Contains(dm2.log(), "verified bundle") {
		t.Errorf("the restarted daemon fetched the bundle again:\n%s", dm2.log())
	}
	if v := d.runningApp(); v != "1.1.0" {
		t.Errorf("gauge %s runs, want 1.1.0", v)
	}
}

// signedTarget is a target message signed with the test key name
// (release or other); sequence 0 is the time in milliseconds, as beamup
// publish gives it.
func signedTarget(t *testing.T, key, scope, bundleID string, seq int64, valid time.Duration) []byte {
	t.Helper()
	signed(t, "1.0.0") // makes the keys
	sk, err := bundle.LoadSecretKey(filepath.Join(keyDir, key+".key"), "")
	if err != nil {
		t.Fatal(err)
	}
	if seq == 0 {
		seq = time.Now().UnixMilli()
	}
	msg, err := mqtt.SignTarget(sk, mqtt.TargetDoc{Bundle: bundleID, Scope: scope, Sequence: seq, Expires: time.Now().Add(valid)})
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func connect(t *testing.T, url string) paho.Client {
	t.Helper()
	c, err := mqtt.Connect(context.Background(), mqtt.Options{Broker: url, ClientID: fmt.Sprintf("test-%d", time.Now().UnixNano()), Reconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pub(t *testing.T, c paho.Client, topic string, payload []byte) {
	t.Helper()
	for try := 1; ; try++ {
		tok := c.Publish(topic, 1, true, payload)
		if tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
			return
		}
		if try == 3 {
			t.Fatalf("publishing %s: %v", topic, tok.Error())
		}
		// A broker saving its retained messages on a loaded machine can
		// miss a keepalive and drop the connection: the client reconnects.
		for deadline := time.Now().Add(15 * time.Second); !c.IsConnectionOpen() && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func readHeader(t *testing.T, path string) *bundle.Header {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := bundle.ReadHeader(f)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// readChunks returns the payload of a bundle cut into its chunks.
func readChunks(t *testing.T, bundle string, h *bundle.Header) [][]byte {
	t.Helper()
	f, err := os.Open(bundle)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var payload []byte
	for {
		th, err := tr.Next()
		if err != nil {
			t.Fatalf("no payload in %s: %v", bundle, err)
		}
		if th.Name == h.Manifest.Payload.Path {
			payload, _ = io.ReadAll(tr)
			break
		}
	}
	p := h.Manifest.Payload
	var out [][]byte
	for off := int64(0); off < p.Size; off += p.ChunkSize {
		out = append(out, payload[off:min(off+p.ChunkSize, p.Size)])
	}
	for n, c := range out {
		if s := sha256.Sum256(c); hex.EncodeToString(s[:]) != p.Chunks[n] {
			t.Fatalf("chunk %d of the bundle does not match its manifest", n)
		}
	}
	return out
}

// Targets are signed: whoever can publish on the broker cannot point a
// device at a bundle by a target that is unsigned, signed by another key,
// for another scope, expired, or older than one the device took. Each is
// refused with its reason in the status, and the device stays where it
// is; a properly signed target then upgrades it.
func TestMQTTTargetsAreSigned(t *testing.T) {
	t.Parallel()
	broker := brokertest.Start(t, nil)
	url := broker.URL("mqtt")
	d := newDevice(t, "1.0.0", deviceOpts{mqtt: mqttSection(url, "line1")})
	dm := d.run()
	tp := mqtt.Topics{Prefix: "beamup"}
	c := connect(t, url)
	defer c.Disconnect(100)
	// The bundle is on the broker, its own target in a group nobody follows.
	id := publishBundle(t, url, signed(t, "1.1.0", "--chunk-size", "262144"), "--group", "elsewhere")
	start := time.Now().UnixMilli()
	for _, c2 := range []struct {
		name, topic string
		msg         []byte
		why         string
	}{
		{"unsigned", tp.GroupTarget("line1"), []byte(`{"bundle":"` + id + `"}`), "not a signed target document"},
		{"other key", tp.GroupTarget("line1"), signedTarget(t, "other", mqtt.GroupScope("line1"), id, start, time.Hour), "not signed by a trusted key"},
		{"another scope", tp.GroupTarget("line1"), signedTarget(t, "release", mqtt.GroupScope("elsewhere"), id, start, time.Hour), "it is for group:elsewhere"},
		{"another device's", tp.DeviceTarget(d.id), signedTarget(t, "release", mqtt.DeviceScope("dev-other"), id, start, time.Hour), "it is for device:dev-other"},
		{"expired", tp.GroupTarget("line1"), signedTarget(t, "release", mqtt.GroupScope("line1"), id, start, -time.Minute), "it expired"},
	} {
		pub(t, c, c2.topic, c2.msg)
		waitStatus(t, url, d.id, dm, func(s report.Status) bool {
			return s.State == "rejected" && s.LastResult != nil && strings.Contains(s.LastResult.Reason, c2.why)
		})
	}
	if v := d.runningApp(); v != "1.0.0" {
		t.Fatalf("gauge %s runs after refused targets, want 1.0.0", v)
	}
	// A target the device takes; then one replayed from before it.
	pub(t, c, tp.GroupTarget("line1"), signedTarget(t, "release", mqtt.GroupScope("line1"), id, start+10, time.Hour))
	waitStatus(t, url, d.id, dm, committedOn("1.1.0"))
	pub(t, c, tp.GroupTarget("line1"), signedTarget(t, "release", mqtt.GroupScope("line1"), strings.Repeat("b", 64), start+5, time.Hour))
	waitStatus(t, url, d.id, dm, func(s report.Status) bool {
		return s.LastResult != nil && strings.Contains(s.LastResult.Reason, "is older than")
	})
}
