package appup_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/beamup/beamup/appup"
	"github.com/beamup/beamup/beamfile"
	"github.com/beamup/beamup/internal/otptest"
	"github.com/beamup/beamup/otprel"
)

// compile builds Erlang sources with the real erlc, with extra options,
// and reads the BEAM files back.
func compile(t *testing.T, vsn string, srcs map[string]string, opts ...string) appup.Version {
	t.Helper()
	otptest.Require(t, "erlc")
	dir := t.TempDir()
	var files []string
	for name, src := range srcs {
		p := filepath.Join(dir, name+".erl")
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	args := append(append([]string{"-o", dir}, opts...), files...)
	if out, err := exec.Command("erlc", args...).CombinedOutput(); err != nil {
		t.Fatalf("erlc: %v\n%s", err, out)
	}
	v := appup.Version{Vsn: vsn, Modules: map[string]*beamfile.Module{}}
	beams, _ := filepath.Glob(filepath.Join(dir, "*.beam"))
	for _, b := range beams {
		data, _ := os.ReadFile(b)
		m, err := beamfile.Read(data)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		v.Modules[m.Name] = m
	}
	return v
}

func ops(l []appup.Instruction) []string {
	var s []string
	for _, in := range l {
		s = append(s, in.String())
	}
	return s
}

// A call chain, a cycle, a supervisor with a new child, a gen_server, a
// removed module, and modules that only their debug info and comments
// tell apart: each as an appup wants it.
func TestMake(t *testing.T) {
	old := compile(t, "1", map[string]string{
		"a":      "-module(a).\n-export([f/0]).\nf() -> b:f() + 1.\n",
		"b":      "-module(b).\n-export([f/0]).\nf() -> c:f() + 1.\n",
		"c":      "-module(c).\n-export([f/0]).\nf() -> 1.\n",
		"x":      "-module(x).\n-export([f/1]).\nf(0) -> 0; f(N) -> y:f(N - 1).\n",
		"y":      "-module(y).\n-export([f/1]).\nf(N) -> x:f(N).\n",
		"s":      "-module(s).\n-behaviour(supervisor).\n-export([init/1]).\ninit([]) -> {ok, {#{}, []}}.\n",
		"srv":    "-module(srv).\n-behaviour(gen_server).\n-export([init/1, handle_call/3, handle_cast/2]).\ninit(_) -> {ok, 0}.\nhandle_call(_, _, S) -> {reply, S, S}.\nhandle_cast(_, S) -> {noreply, S}.\n",
		"same":   "-module(same).\n-export([f/0]).\nf() -> ok.\n",
		"gone":   "-module(gone).\n-export([f/0]).\nf() -> ok.\n",
		"unused": "-module(unused).\n-export([f/0]).\nf() -> c:f().\n",
	}, "+debug_info")
	new := compile(t, "2", map[string]string{
		"a":      "-module(a).\n-export([f/0]).\nf() -> b:f() + 2.\n",
		"b":      "-module(b).\n-export([f/0]).\nf() -> c:f() + 2.\n",
		"c":      "-module(c).\n-export([f/0]).\nf() -> 2.\n",
		"x":      "-module(x).\n-export([f/1]).\nf(0) -> zero; f(N) -> y:f(N - 1).\n",
		"y":      "-module(y).\n-export([f/1]).\nf(N) -> x:f(N + 0).\n",
		"s":      "-module(s).\n-behaviour(supervisor).\n-export([init/1]).\ninit([]) -> {ok, {#{}, [#{id => n, start => {n, start_link, []}}]}}.\n",
		"srv":    "-module(srv).\n-behaviour(gen_server).\n-export([init/1, handle_call/3, handle_cast/2]).\ninit(_) -> {ok, 1}.\nhandle_call(_, _, S) -> {reply, S, S}.\nhandle_cast(_, S) -> {noreply, S}.\n",
		"same":   "%% a comment moves every line\n\n-module(same).\n-export([f/0]).\nf() -> ok.\n",
		"n":      "-module(n).\n-export([start_link/0]).\nstart_link() -> ignore.\n",
		"unused": "-module(unused).\n-export([f/0]).\nf() -> c:f().\n",
	})
	a := appup.Make("demo", old, new)
	up := ops(a.Up)
	pos := func(s string) int {
		return slices.IndexFunc(up, func(u string) bool { return strings.HasPrefix(u, s) })
	}
	for _, want := range []string{"{load_module,a,[b]}", "{load_module,b,[c]}", "{load_module,c,[]}",
		"{update,s,supervisor}", "{update,srv,{advanced,[]},[]}", "{add_module,n}", "{delete_module,gone}"} {
		if !slices.Contains(up, want) {
			t.Errorf("up has no %s: %v", want, up)
		}
	}
	if !(pos("{load_module,c") < pos("{load_module,b") && pos("{load_module,b") < pos("{load_module,a")) {
		t.Errorf("the chain is not callees first: %v", up)
	}
	for _, m := range []string{"same", "unused"} {
		if pos("{load_module,"+m) >= 0 {
			t.Errorf("%s is the same code, yet in the appup: %v", m, up)
		}
	}
	if len(a.Cycles) != 1 || strings.Join(a.Cycles[0], ",") != "x,y" {
		t.Errorf("cycles %v, want [x y]", a.Cycles)
	}
	down := ops(a.Down)
	for _, want := range []string{"{add_module,gone}", "{delete_module,n}", "{load_module,a,[b]}", "{update,s,supervisor}"} {
		if !slices.Contains(down, want) {
			t.Errorf("down has no %s: %v", want, down)
		}
	}
	if !slices.Equal(down[len(down)-1:], []string{"{delete_module,n}"}) && !slices.Equal(down[:1], []string{"{add_module,gone}"}) {
		t.Errorf("down is not up reversed: %v", down)
	}
	// What it writes is an appup: one term, upgrade and downgrade.
	terms, err := otprel.ParseTerms(a.Format())
	if err != nil || len(terms) != 1 {
		t.Fatalf("the appup does not read as Erlang terms: %v\n%s", err, a.Format())
	}
}

// The sample's 1.0.0 -> 1.1.0, from the release tarballs, means what the
// hand-written appup means: gauge_stats added, gauge_fmt reloaded,
// gauge_counter (a gen_server) updated after both, and back in reverse.
func TestGaugeAppupMatchesTheHandWrittenOne(t *testing.T) {
	if testing.Short() {
		t.Skip("builds real releases; not in -short")
	}
	old, err := appup.ReadRelease(otptest.Tarball(t, "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	new, err := appup.ReadRelease(otptest.Tarball(t, "1.1.0"))
	if err != nil {
		t.Fatal(err)
	}
	ups := appup.Changed(old, new)
	if len(ups) != 1 || ups[0].App != "gauge" {
		t.Fatalf("appups for %v, want gauge only", ups)
	}
	a := ups[0]
	if got, want := strings.Join(ops(a.Up), " "), "{load_module,gauge_fmt,[]} {add_module,gauge_stats} {update,gauge_counter,{advanced,[]},[gauge_fmt,gauge_stats]}"; got != want {
		t.Errorf("up:\n%s\nwant\n%s", got, want)
	}
	if got, want := strings.Join(ops(a.Down), " "), "{update,gauge_counter,{advanced,[]},[gauge_fmt]} {delete_module,gauge_stats} {load_module,gauge_fmt,[]}"; got != want {
		t.Errorf("down:\n%s\nwant\n%s", got, want)
	}
}
