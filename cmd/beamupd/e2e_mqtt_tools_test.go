package main_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/beamup/beamup/internal/brokertest"
	"github.com/beamup/beamup/internal/otptest"
	"github.com/beamup/beamup/otprel"
)

// Over MQTT, a release that `mix release` and rebar3 built installs as
// the systools sample does, whole and as a delta: the full bundle laid
// out from its chunks as they come, the delta rebuilt from the base as
// its chunks come (small chunks, so that the layout follows many of
// them). Each device runs 1.1.0 hot, on the node it ran 1.0.0 on, with
// 1.1.0 permanent and 1.0.0 old.
func TestEachToolOverMQTT(t *testing.T) {
	skipShort(t)
	t.Parallel()
	url := brokertest.Start(t, nil).URL("mqtt")
	for _, tool := range []struct {
		name, app, health string
		flavor            *otptest.Flavor
	}{
		{"mix", "meter", "Elixir.Meter.Health:check", otptest.Mix},
		{"rebar3", "tally", "tally_health:check", otptest.Rebar3},
	} {
		for _, kind := range []string{"full", "delta"} {
			t.Run(tool.name+"/"+kind, func(t *testing.T) {
				t.Parallel()
				group := tool.name + "-" + kind
				d := newDevice(t, "1.0.0", deviceOpts{flavor: tool.flavor, health: tool.health, mqtt: mqttSection(url, group)})
				osPid := d.call("os", "getpid")
				bundle := signedOf(t, tool.flavor, "1.1.0", "--chunk-size", fmt.Sprint(64<<10))
				if kind == "delta" {
					bundle = deltaOfFlavor(t, tool.flavor, "1.1.0", "1.0.0", "--chunk-size", "4096")
				}
				dm := d.run()
				publishBundle(t, url, bundle, "--group", group)
				waitStatus(t, url, d.id, dm, committedOn("1.1.0"))
				if kind == "delta" && !strings.Contains(dm.log(), "rebuilt "+tool.app+" 1.1.0 from the delta against 1.0.0") {
					t.Errorf("the device did not say it rebuilt %s 1.1.0 from the delta:\n%s", tool.app, dm.log())
				}
				if v := d.appVersion(tool.app); v != "1.1.0" {
					t.Errorf("%s %s runs, want 1.1.0\n%s", tool.app, v, dm.log())
				}
				if pid := d.call("os", "getpid"); otprel.Format(pid) != otprel.Format(osPid) {
					t.Errorf("the node restarted (os pid %s, was %s): the upgrade was not hot", otprel.Format(pid), otprel.Format(osPid))
				}
				if got := strings.Join(d.releases(), " "); !strings.Contains(got, "1.1.0:permanent") || !strings.Contains(got, "1.0.0:old") {
					t.Errorf("releases %s, want 1.1.0 permanent and 1.0.0 old", got)
				}
			})
		}
	}
}
