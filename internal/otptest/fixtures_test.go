package otptest

import (
	"archive/tar"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ergo-services/ergo/etf"

	"github.com/beamup/beamup/otprel"
)

// members reads a release tarball: every member's name and, for the names
// that want keeps, its contents.
func members(t *testing.T, tarball string, want func(string) bool) map[string]string {
	t.Helper()
	m := map[string]string{}
	Members(t, tarball, func(h *tar.Header, data []byte) bool {
		m[h.Name] = ""
		if want(h.Name) {
			m[h.Name] = string(data)
		}
		return true
	})
	return m
}

// The fixtures of cold upgrades: gauge 1.3.0's relup from and to 1.2.0 is
// restart_emulator alone, gauge 2.0.0 adds runtime_tools to the release
// (rel_apps), and meter 1.2.0 is a mix release with no relup.
func TestColdFixtures(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the sample releases; not in -short")
	}
	t.Parallel()
	all := func(string) bool { return true }
	for _, f := range []*Flavor{Gauge, GaugeNameVsn} {
		relup := members(t, f.Tarball(t, "1.3.0"), all)["releases/1.3.0/relup"]
		// systools:make_relup puts restart_emulator last, after a
		// point_of_no_return of its own.
		if n := strings.Count(relup, `{"1.2.0",[],[point_of_no_return,restart_emulator]}`); n != 2 {
			t.Errorf("%s: gauge 1.3.0's relup, up and down, should be restart_emulator alone:\n%s", f.Tool, relup)
		}

		m := members(t, f.Tarball(t, "2.0.0"), all)
		rt := "runtime_tools-" + vsnOf(t, "runtime_tools")
		if _, ok := m["lib/"+rt+"/ebin/runtime_tools.app"]; !ok {
			t.Errorf("%s: gauge-2.0.0.tar.gz carries no lib/%s", f.Tool, rt)
		}
		rel := m["releases/2.0.0/"+map[*Flavor]string{Gauge: "gauge", GaugeNameVsn: "gauge-2.0.0"}[f]+".rel"]
		if !regexp.MustCompile(`\{runtime_tools,\s*"`).MatchString(rel) {
			t.Errorf("%s: gauge 2.0.0's .rel has no runtime_tools:\n%s", f.Tool, rel)
		}
		if relup := m["releases/2.0.0/relup"]; !strings.Contains(relup, "{apply,{application,start,[runtime_tools,permanent]}}") {
			t.Errorf("%s: gauge 2.0.0's relup does not start runtime_tools:\n%s", f.Tool, relup)
		}
	}

	m := members(t, Mix.Tarball(t, "1.2.0"), func(string) bool { return false })
	for _, p := range []string{"releases/1.2.0/relup", "lib/meter-1.2.0/ebin/meter.appup"} {
		if _, ok := m[p]; ok {
			t.Errorf("meter-1.2.0.tar.gz has %s: 1.2.0 is a release with no relup", p)
		}
	}
	for _, p := range []string{"releases/1.2.0/meter.rel", "releases/1.2.0/runtime.exs", "lib/meter-1.2.0/ebin/meter.app"} {
		if _, ok := m[p]; !ok {
			t.Errorf("meter-1.2.0.tar.gz has no %s", p)
		}
	}
}

func vsnOf(t *testing.T, app string) string {
	t.Helper()
	out, err := exec.Command("erl", "-noshell", "-eval",
		fmt.Sprintf(`application:load(%s), {ok, V} = application:get_key(%s, vsn), io:put_chars(V), halt().`, app, app)).Output()
	if err != nil {
		t.Fatalf("the version of %s: %v", app, err)
	}
	return string(out)
}

// gauge 2.0.0 boots with runtime_tools started and its health function
// answers {health, fail} from sys.config; with {boot, crash} in sys.config
// the node does not boot at all.
func TestGauge2Boot(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gauge releases and runs real nodes; not in -short")
	}
	t.Parallel()
	tg := NewTarget(t, "2.0.0")
	c := tg.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	apps, err := c.StartedApps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if AppVersion(apps, "gauge") != "2.0.0" || AppVersion(apps, "runtime_tools") == "" {
		t.Errorf("gauge 2.0.0 runs the applications %v, want gauge 2.0.0 and runtime_tools", apps)
	}
	health := func() string {
		v, err := c.Call(ctx, "gauge_health", "check")
		if err != nil {
			t.Fatal(err)
		}
		return otprel.Format(v)
	}
	if h := health(); h != "ok" {
		t.Errorf("gauge_health:check() = %s, want ok", h)
	}
	if _, err := c.Call(ctx, "application", "set_env", etf.Atom("gauge"), etf.Atom("health"), etf.Atom("fail")); err != nil {
		t.Fatal(err)
	}
	if h := health(); h != "{error,sensor_unplugged}" {
		t.Errorf("with {health, fail}, gauge_health:check() = %s, want {error,sensor_unplugged}", h)
	}

	// The crashing boot, in a target of its own that is never expected to
	// boot. ERL_CRASH_DUMP keeps the node's crash dump out of the working
	// directory (this package's).
	tarball := RewriteTar(t, Tarball(t, "2.0.0"), "releases/2.0.0/sys.config",
		func([]byte) []byte { return []byte("[{gauge, [{boot, crash}]}].\n") })
	root := t.TempDir()
	port := FreePort(t)
	run(t, "sh", filepath.Join(RepoRoot(), "testdata", "target", "install.sh"),
		tarball, root, fmt.Sprintf("crash%d@127.0.0.1", time.Now().UnixNano()%1e9), "cookie", fmt.Sprint(port))
	script := filepath.Join(root, "bin", "node.sh")
	t.Cleanup(func() {
		exec.Command("sh", script, root, "stop").Run()
		cmd := exec.Command("epmd", "-kill")
		cmd.Env = append(os.Environ(), fmt.Sprintf("ERL_EPMD_PORT=%d", port))
		cmd.Run()
	})
	start := exec.Command("sh", script, root, "start")
	start.Env = append(os.Environ(), "ERL_CRASH_DUMP="+filepath.Join(root, "erl_crash.dump"))
	if out, err := start.CombinedOutput(); err != nil {
		t.Fatalf("node.sh start: %v\n%s", err, out)
	}
	for i := 0; exec.Command("sh", script, root, "pid").Run() == nil; i++ {
		if i > 300 {
			t.Fatal("gauge 2.0.0 with {boot, crash} still runs after 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(root, "log", "node.log"))
	if !strings.Contains(string(log), "{application_start_failure,gauge,{{boot,crash_on_purpose}") {
		t.Errorf("the node's log does not say gauge failed to start:\n%s", log)
	}
}
