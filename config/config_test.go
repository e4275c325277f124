package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const good = `
[device]
id = "dev1"
board = "rpi4"
state_dir = "/tmp/state"

[trust]
public_keys = ["/etc/beamup/keys/release.pub"]

[node]
name = "app@127.0.0.1"
root = "/opt/app"
release = "app"
control = "exec:/opt/app/bin/app restart"
suspend_timeout = "2s"

[health]
function = "app_health:check"
soak = "10s"
`

func write(t *testing.T, s string) string {
	p := filepath.Join(t.TempDir(), "beamupd.toml")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	c, err := Load(write(t, good))
	if err != nil {
		t.Fatal(err)
	}
	if c.Device.ID != "dev1" || c.Node.Release != "app" || c.Health.Soak.Duration != 10*time.Second ||
		c.Node.SuspendTimeout.Duration != 2*time.Second || c.Node.EPMDPort != 4369 || c.Health.Timeout.Duration == 0 {
		t.Errorf("config = %+v", c)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unknown key", strings.Replace(good, `soak = "10s"`, "soak = \"10s\"\nsoka = 1", 1), "toml: line 20: unknown key health.soka"},
		{"wrong type", strings.Replace(good, `board = "rpi4"`, `board = 4`, 1), `line 4 (last key "device.board")`},
		{"bad duration", strings.Replace(good, `soak = "10s"`, `soak = "ten"`, 1), `line 19 (last key "health.soak"): not a duration`},
		{"no keys", strings.Replace(good, `public_keys = ["/etc/beamup/keys/release.pub"]`, ``, 1), "public_keys is empty"},
		{"bad function", strings.Replace(good, `app_health:check`, `app_health`, 1), "want module:function"},
		{"syntax", good + "\n[node\n", "line 22"},
		{"unknown table", good + "\n[nod]\nx = 1\n", "toml: line 21: unknown key nod"},
	}
	for _, tt := range tests {
		path := write(t, tt.src)
		_, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: err = %v, want it to name %s and contain %q", tt.name, err, path, tt.want)
		}
	}
}
