package main_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/beamup/beamup/report"
)

// After a power cut beamupd and the node start together: the daemon waits
// for the node, still booting, instead of judging the interrupted
// operation on a node that does not answer yet. Cut just after
// make_permanent, the release that boots is the new one: the operation
// committed, and must be recorded so, not as a revert.
func TestResumeWaitsForBootingNode(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "1.0.0", deviceOpts{health: "gauge_health:check"})
	marker := filepath.Join(t.TempDir(), "fired")
	d.env = append(d.env, "BEAMUPD_FAILPOINT=made-permanent:"+marker)
	code, out := d.beamupdAt(beamupdBuild(t, "1.0.0", "failpoints"), "install", signed(t, "1.1.0"))
	d.env = d.env[:len(d.env)-1]
	if code != -1 {
		t.Fatalf("beamupd install was not killed after make_permanent: exit %d\n%s", code, out)
	}
	d.Kill(t) // the power cut
	dm := d.run()
	time.Sleep(3 * time.Second) // the node is slower to come up than beamupd
	d.Start(t)
	waitFor(t, 90*time.Second, "the daemon to finish the operation", func() bool {
		j := d.journal()
		return j.Op == nil && j.Last != nil && j.Last.Version == "1.1.0"
	})
	if j := d.journal(); j.Last.Outcome != report.Committed {
		t.Errorf("last result %+v, want committed\n%s", j.Last, dm.log())
	}
	if v := d.permanentHealthy("gauge", "gauge_health:check"); v != "1.1.0" {
		t.Errorf("%s is permanent, want 1.1.0", v)
	}
	dm.stop()
	d.powerCycled("gauge", "1.1.0", "the resumed commit")
}
