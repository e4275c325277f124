package systemd

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beamup/beamup/internal/otptest"
)

// verify runs systemd-analyze verify on units in a root of their own,
// with the system's own units and a stand-in for each ExecStart program,
// and returns what it printed: nothing when the units are sound.
func verify(t *testing.T, units ...string) string {
	t.Helper()
	otptest.Require(t, "systemd-analyze")
	root := t.TempDir()
	sysUnits := "/usr/lib/systemd/system"
	if _, err := os.Stat(sysUnits); err != nil {
		sysUnits = "/lib/systemd/system"
	}
	os.MkdirAll(filepath.Join(root, "usr/lib/systemd"), 0o755)
	if out, err := exec.Command("cp", "-r", sysUnits, filepath.Join(root, "usr/lib/systemd/")).CombinedOutput(); err != nil {
		t.Fatalf("copying %s: %v\n%s", sysUnits, err, out)
	}
	etc := filepath.Join(root, "etc/systemd/system")
	os.MkdirAll(etc, 0o755)
	var names []string
	for _, u := range units {
		data, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(etc, filepath.Base(u)), data, 0o644)
		names = append(names, filepath.Base(u))
		sc := bufio.NewScanner(strings.NewReader(string(data)))
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), "=")
			if !ok || !strings.HasPrefix(k, "Exec") {
				continue
			}
			prog := filepath.Join(root, strings.Fields(strings.TrimLeft(v, "-@+!"))[0])
			os.MkdirAll(filepath.Dir(prog), 0o755)
			os.WriteFile(prog, []byte("#!/bin/sh\n"), 0o755)
		}
	}
	out, err := exec.Command("systemd-analyze", append([]string{"verify", "--root=" + root}, names...)...).CombinedOutput()
	if err != nil && len(out) == 0 {
		t.Fatalf("systemd-analyze verify: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func TestShippedUnitsVerify(t *testing.T) {
	if testing.Short() {
		t.Skip("runs systemd-analyze; not in -short")
	}
	if out := verify(t, "beamupd.service", "app.service"); out != "" {
		t.Errorf("systemd-analyze verify:\n%s", out)
	}
	// The check can fail: a misspelt key is reported.
	bad := filepath.Join(t.TempDir(), "bad.service")
	os.WriteFile(bad, []byte("[Service]\nTyp=notify\nExecStart=/usr/bin/beamupd run\n"), 0o644)
	if out := verify(t, bad); !strings.Contains(out, "Unknown key") {
		t.Errorf("a unit with a misspelt key verified: %q", out)
	}
}
