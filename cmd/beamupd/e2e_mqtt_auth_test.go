package main_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beamup/beamup/internal/brokertest"
)

// A broker that wants a user name and password: the device and beamup
// publish log in with [mqtt] username and password_file; without them,
// or with a wrong password, the broker says no and the command says so.
func TestMQTTUsernamePassword(t *testing.T) {
	t.Parallel()
	broker := brokertest.StartWithPassword(t, "fleet", "s3cret").URL("mqtt")
	pw := writeFile(t, "password", "s3cret\n")
	bad := writeFile(t, "bad", "guess\n")
	section := fmt.Sprintf("%susername = \"fleet\"\npassword_file = %q\n", mqttSection(broker), pw)
	d := newDevice(t, "1.0.0", deviceOpts{mqtt: section})
	dm := d.run()

	_, beamup := bins(t)
	bundle := signed(t, "1.1.0")
	for name, args := range map[string][]string{
		"no credentials": {"publish", "--broker", broker, "--key", filepath.Join(keyDir, "release.key"), "--device", d.id, bundle},
		"wrong password": {"publish", "--broker", broker, "--key", filepath.Join(keyDir, "release.key"), "--username", "fleet", "--password-file", bad, "--device", d.id, bundle},
	} {
		out, err := execOut(beamup, args...)
		if err == nil || !strings.Contains(strings.ToLower(out), "not authorized") {
			t.Errorf("%s: %v, want the broker's refusal:\n%s", name, err, out)
		}
	}
	out, err := execOut(beamup, "publish", "--broker", broker, "--key", filepath.Join(keyDir, "release.key"), "--username", "fleet", "--password-file", pw, "--device", d.id, bundle)
	if err != nil {
		t.Fatalf("publish with the password: %v\n%s", err, out)
	}
	waitFor(t, 90*time.Second, "gauge 1.1.0 from the broker", func() bool {
		return strings.Contains(dm.log(), "committed: gauge 1.1.0")
	})
	direct(t, dm)
	out, err = execOut(beamup, "status", "--broker", broker, "--username", "fleet", "--password-file", pw,
		"--device", d.id, "--json")
	if err != nil || !strings.Contains(out, `"version":"1.1.0"`) {
		t.Errorf("status with the password: %v\n%s", err, out)
	}
}
