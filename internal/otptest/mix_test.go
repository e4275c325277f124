package otptest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ergo-services/ergo/etf"

	"github.com/beamup/beamup/otprel"
)

// The mix sample boots through mix's own bin/meter as a target system of
// its own: the node runs meter 1.0.0 from the target's root, with the value
// of config/runtime.exs, and a power cut brings it back the same way.
func TestMixTarget(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a mix release and runs a real node; not in -short")
	}
	t.Parallel()
	tg := Mix.NewTarget(t, "1.0.0")
	c := tg.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	call := func(mod, fun string, args ...etf.Term) etf.Term {
		t.Helper()
		v, err := c.Call(ctx, mod, fun, args...)
		if err != nil {
			t.Fatalf("%s:%s: %v", mod, fun, err)
		}
		return v
	}
	check := func(when string) {
		t.Helper()
		// mix's erts-VSN/bin/erl takes its root from where it lies, not
		// Debian's /usr/lib/erlang.
		if root, _ := otprel.String(call("code", "root_dir")); root != tg.Root {
			t.Errorf("%s: code:root_dir() is %s, want the target's root %s", when, root, tg.Root)
		}
		apps, err := c.StartedApps(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if meter := AppVersion(apps, "meter"); meter != "1.0.0" {
			t.Errorf("%s: the node runs meter %q, want 1.0.0 (applications %v)", when, meter, apps)
		}
		// Booted through mix's script: its boot file and sys.config.
		boot := otprel.Format(call("init", "get_argument", etf.Atom("boot")))
		if want := filepath.Join(tg.Root, "releases", "1.0.0", "start"); boot != `{ok,[["`+want+`"]]}` {
			t.Errorf("%s: booted with -boot %s, want %s", when, boot, want)
		}
		if site, want := MeterEnv(call("application", "get_env", etf.Atom("meter"), etf.Atom("site"))), MeterSite(tg); site != want {
			t.Errorf("%s: meter's site is %s, want %q from config/runtime.exs (config.exs says %q)", when, site, want, MeterBuildSite)
		}
		if got := call("Elixir.Meter.Health", "check"); got != etf.Atom("ok") {
			t.Errorf("%s: Meter.Health.check() = %s, want ok", when, otprel.Format(got))
		}
		if got, _ := otprel.String(call("Elixir.Meter", "describe")); got != "v1 main 0 kWh" {
			t.Errorf("%s: Meter.describe() = %q, want %q", when, got, "v1 main 0 kWh")
		}
	}
	check("after the install")

	pid, err := c.OSPid(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := readPid(t, tg); got != pid {
		t.Errorf("tmp/node.pid holds %s, the node's os pid is %s", got, pid)
	}
	tg.PowerCycle(t)
	c = tg.Client(t)
	if again, err := c.OSPid(ctx); err != nil || again == pid {
		t.Errorf("after the power cycle the os pid is %s (%v), was %s: the node did not restart", again, err, pid)
	}
	check("after the power cycle")
}

func readPid(t *testing.T, tg *Target) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tg.Root, "tmp", "node.pid"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
