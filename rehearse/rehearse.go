// Package rehearse rehearses an upgrade on a build machine or in CI, the
// way a device would go through it: the old release installed as a
// target system in a temporary directory and booted, the bundle applied
// by the real beamupd (plan, install, health, commit), the pause of every
// process the relup suspends measured by a 1 kHz probe on the node, then
// the way back (beamupd rollback) and the old release checked again.
package rehearse

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ergo-services/ergo/etf"

	"github.com/beamup/beamup/beam"
	"github.com/beamup/beamup/otprel"
	"github.com/beamup/beamup/report"
)

// nodeScript starts and stops the node of a target system as a device's
// init script would: it boots what releases/start_erl.data names.
//
//go:embed node.sh
var nodeScript []byte

// Options says what to rehearse.
type Options struct {
	Old, Bundle string // the release tarball that runs, the bundle to apply
	PublicKey   string // the key the bundle is signed with
	Beamupd     string // the beamupd executable that applies it
	Soak        time.Duration
	Log         io.Writer // a line per step
}

// Report is how the rehearsal went.
type Report struct {
	Release  string   `json:"release"`
	From     string   `json:"from"`
	To       string   `json:"to"`
	Path     string   `json:"path"` // hot, cold or back
	Reasons  []string `json:"reasons,omitempty"`
	Install  Outcome  `json:"install"`
	Pauses   []Pause  `json:"pauses,omitempty"`
	Back     Outcome  `json:"back"`
	OldAgain bool     `json:"old_release_healthy_again"`
	OK       bool     `json:"ok"`
}

// Outcome is how one beamupd command ended.
type Outcome struct {
	Outcome report.Outcome `json:"outcome"`
	Reason  string         `json:"reason,omitempty"`
	Millis  int64          `json:"ms"`
}

// Pause is the longest a suspended process did not answer while the
// upgrade ran.
type Pause struct {
	Process string  `json:"process"`
	Millis  float64 `json:"ms"`
}

// Run rehearses; the error is for a rehearsal that could not be run at
// all, a failed upgrade is in the report.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Soak == 0 {
		o.Soak = 2 * time.Second
	}
	dir, err := os.MkdirTemp("", "beamup-rehearse-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	t, err := install(o.Old, dir)
	if err != nil {
		return nil, err
	}
	defer t.stop()
	fmt.Fprintf(o.Log, "booting %s %s in %s\n", t.files.Name, t.files.Version, t.root)
	if err := t.start(ctx); err != nil {
		return nil, err
	}
	cfg, err := t.config(dir, o)
	if err != nil {
		return nil, err
	}
	r := &Report{Release: t.files.Name, From: t.files.Version}
	beamupd := func(args ...string) (int, string, time.Duration) {
		start := time.Now()
		cmd := exec.CommandContext(ctx, o.Beamupd, append([]string{args[0], "--config", cfg}, args[1:]...)...)
		out, _ := cmd.CombinedOutput()
		code := -1
		if cmd.ProcessState != nil {
			code = cmd.ProcessState.ExitCode()
		}
		return code, string(out), time.Since(start)
	}

	var p struct {
		Version      string   `json:"version"`
		Path         string   `json:"path"`
		Reasons      []string `json:"reasons"`
		Instructions []string `json:"instructions"`
	}
	plan := exec.CommandContext(ctx, o.Beamupd, "plan", "--config", cfg, "--json", o.Bundle)
	var stderr strings.Builder
	plan.Stderr = &stderr
	if out, err := plan.Output(); err != nil || json.Unmarshal(out, &p) != nil {
		r.Install = Outcome{Outcome: report.Rejected, Reason: lastLine(stderr.String())}
		return r, nil
	}
	r.To, r.Path, r.Reasons = p.Version, p.Path, p.Reasons
	fmt.Fprintf(o.Log, "plan: %s %s -> %s %s\n", r.Release, r.From, r.To, r.Path)

	mods := suspended(p.Instructions)
	probing, err := t.probe(ctx, mods)
	if err != nil {
		return nil, err
	}
	if probing {
		fmt.Fprintf(o.Log, "probing the processes of %s, which the relup suspends\n", strings.Join(mods, ", "))
	}
	code, out, took := beamupd("install", o.Bundle)
	r.Install = outcome(code, out, took)
	fmt.Fprintf(o.Log, "install: %s in %d ms\n", r.Install.Outcome, r.Install.Millis)
	if probing {
		if r.Pauses, err = t.pauses(ctx); err != nil {
			fmt.Fprintf(o.Log, "the probe: %v\n", err)
		}
	}
	if r.Install.Outcome == report.Committed {
		code, out, took = beamupd("rollback")
		r.Back = outcome(code, out, took)
		fmt.Fprintf(o.Log, "rollback: %s in %d ms\n", r.Back.Outcome, r.Back.Millis)
	} else {
		r.Back = Outcome{Outcome: r.Install.Outcome, Reason: "the install went back itself"}
	}
	r.OldAgain = t.healthyOn(ctx, r.From)
	r.OK = r.Install.Outcome == report.Committed && r.Back.Outcome == report.Committed && r.OldAgain
	return r, nil
}

func outcome(code int, out string, took time.Duration) Outcome {
	o := Outcome{Outcome: report.Failed, Reason: lastLine(out), Millis: took.Milliseconds()}
	switch code {
	case 0:
		o.Outcome = report.Committed
	case 10:
		o.Outcome = report.Rejected
	case 11:
		o.Outcome = report.Reverted
	}
	return o
}

func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}

// suspended lists the modules the relup's instructions suspend.
func suspended(instrs []string) []string {
	var mods []string
	for _, in := range instrs {
		terms, err := otprel.ParseTerms(in + ".")
		if err != nil || len(terms) != 1 {
			continue
		}
		if t, ok := terms[0].(otprel.Tuple); ok && len(t) == 2 && t[0] == otprel.Atom("suspend") {
			if l, ok := t[1].(otprel.List); ok {
				for _, m := range l {
					switch m := m.(type) {
					case otprel.Atom:
						mods = append(mods, string(m))
					case otprel.Tuple:
						if len(m) == 2 {
							if a, ok := m[0].(otprel.Atom); ok {
								mods = append(mods, string(a))
							}
						}
					}
				}
			}
		}
	}
	return mods
}

// target is the old release installed as a target system.
type target struct {
	root, node, cookie string
	epmd               int
	files              *otprel.ReleaseFiles
	client             *beam.Client
}

func install(tarball, dir string) (*target, error) {
	root := filepath.Join(dir, "root")
	files, err := otprel.Extract(tarball, root)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	t := &target{root: root, node: fmt.Sprintf("rehearse%d@127.0.0.1", port), cookie: fmt.Sprintf("rehearse-%d", time.Now().UnixNano()), epmd: port, files: files}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{"releases/start_erl.data", []byte(files.ERTS + " " + files.Version), 0o644},
		{"cookie", []byte(t.cookie), 0o600},
		{"node.env", []byte(fmt.Sprintf("NODE_NAME=%s\nCOOKIE_FILE=%s\nERL_EPMD_PORT=%d\n", t.node, filepath.Join(root, "cookie"), port)), 0o644},
		{"bin/node.sh", nodeScript, 0o755},
	} {
		p := filepath.Join(root, f.name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, f.data, f.mode); err != nil {
			return nil, err
		}
	}
	for _, d := range []string{"tmp", "log"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return nil, err
		}
	}
	if !files.ERTSIncluded {
		return nil, fmt.Errorf("%s carries no erts-VSN: a rehearsal boots the release's own ERTS", tarball)
	}
	return t, nil
}

func (t *target) script(cmd string) error {
	out, err := exec.Command("sh", filepath.Join(t.root, "bin", "node.sh"), t.root, cmd).CombinedOutput()
	if err != nil {
		return fmt.Errorf("node.sh %s: %v: %s", cmd, err, out)
	}
	return nil
}

func (t *target) start(ctx context.Context) error {
	if err := t.script("start"); err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if t.client == nil {
			t.client, _ = beam.Dial(ctx, beam.Options{Node: t.node, Cookie: t.cookie, EPMDPort: t.epmd, CallTimeout: 5 * time.Second})
		}
		if t.client != nil {
			if ok, err := t.client.Booted(ctx); err == nil && ok {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return errors.New("the old release did not boot within 60 s (see " + filepath.Join(t.root, "log", "node.log") + ")")
}

func (t *target) stop() {
	t.script("stop")
	if t.client != nil {
		t.client.Close()
	}
	// The epmd the node started on the rehearsal's own port.
	exec.Command("sh", "-c", fmt.Sprintf("ERL_EPMD_PORT=%d epmd -kill", t.epmd)).Run()
}

// config writes the beamupd configuration of the rehearsal's device.
func (t *target) config(dir string, o Options) (string, error) {
	pub, err := filepath.Abs(o.PublicKey)
	if err != nil {
		return "", err
	}
	cfg := fmt.Sprintf(`[device]
id = "rehearsal"
state_dir = %q

[trust]
public_keys = [%q]

[node]
name = %q
cookie_file = %q
epmd_port = %d
root = %q
release = %q
control = %q
boot_timeout = "60s"

[health]
soak = %q
interval = "200ms"
`, filepath.Join(dir, "state"), pub, t.node, filepath.Join(t.root, "cookie"), t.epmd, t.root, t.files.Name,
		"exec:sh "+filepath.Join(t.root, "bin", "node.sh")+" "+t.root+" restart", o.Soak.String())
	p := filepath.Join(dir, "beamupd.toml")
	return p, os.WriteFile(p, []byte(cfg), 0o644)
}

// probe starts, on the node, a process that asks every process running
// one of mods for its state (sys:get_state/2) each millisecond and keeps
// the longest wait of each: a suspended process answers only once it is
// resumed. It reports false when no process runs those modules.
func (t *target) probe(ctx context.Context, mods []string) (bool, error) {
	if len(mods) == 0 {
		return false, nil
	}
	atoms := make(etf.List, len(mods))
	for i, m := range mods {
		atoms[i] = etf.Atom(m)
	}
	res, err := t.client.EvalWith(ctx, `
		Pids = [P || P <- erlang:processes(),
		             case erlang:process_info(P, dictionary) of
		                 {dictionary, D} ->
		                     case proplists:get_value('$initial_call', D) of
		                         {M, _, _} -> lists:member(M, Mods);
		                         _ -> false
		                     end;
		                 _ -> false
		             end],
		Name = fun(P) -> case erlang:process_info(P, registered_name) of
		                     {registered_name, N} -> atom_to_list(N);
		                     _ -> pid_to_list(P)
		                 end end,
		Named = [{P, Name(P)} || P <- Pids],
		Probe = spawn(fun() ->
		    Loop = fun Loop(Max) ->
		        receive {report, From} -> From ! {beamup_pauses, maps:to_list(Max)}
		        after 1 ->
		            Loop(lists:foldl(fun({P, N}, Acc) ->
		                T0 = erlang:monotonic_time(microsecond),
		                catch sys:get_state(P, 10000),
		                D = erlang:monotonic_time(microsecond) - T0,
		                maps:update_with(N, fun(V) -> max(V, D) end, D, Acc)
		            end, Max, Named))
		        end
		    end,
		    Loop(#{})
		end),
		register(beamup_probe, Probe),
		length(Pids).`, map[string]etf.Term{"Mods": atoms})
	if err != nil {
		return false, fmt.Errorf("starting the probe: %w", err)
	}
	n, _ := otprel.Int(res)
	return n > 0, nil
}

// pauses collects the probe's figures; the probe ends once it has told.
func (t *target) pauses(ctx context.Context) ([]Pause, error) {
	res, err := t.client.EvalWith(ctx, `
		beamup_probe ! {report, self()},
		receive {beamup_pauses, L} -> [{list_to_binary(N), V} || {N, V} <- L]
		after 5000 -> timeout end.`, nil)
	if err != nil {
		return nil, err
	}
	l, ok := res.(etf.List)
	if !ok {
		return nil, fmt.Errorf("the probe answered %s", otprel.Format(res))
	}
	var out []Pause
	for _, e := range l {
		if tu, ok := e.(etf.Tuple); ok && len(tu) == 2 {
			name, _ := otprel.String(tu[0])
			us, _ := otprel.Int(tu[1])
			out = append(out, Pause{Process: name, Millis: float64(us) / 1000})
		}
	}
	return out, nil
}

// healthyOn says whether the node runs release vsn as its permanent one
// with every application it starts.
func (t *target) healthyOn(ctx context.Context, vsn string) bool {
	for range 50 {
		rels, err := t.client.WhichReleases(ctx)
		if err == nil {
			cur, _ := beam.Current(rels)
			perm, _ := beam.Permanent(rels)
			if booted, _ := t.client.Booted(ctx); booted && cur.Version == vsn && perm.Version == vsn {
				apps, err := t.client.StartedApps(ctx)
				if err == nil && len(t.files.NotStarted(apps)) == 0 {
					return true
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return false
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
