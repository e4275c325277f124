// Command restartbench is make bench's baseline for the revert figure and
// its probe for the cold upgrade's downtime: it restarts the node one way
// and prints milliseconds, watched over Erlang distribution the way
// beamupd watches it (not through erl_call, whose own start dominated the
// figure).
//
//	-how self      rpc init:restart(), as release_handler does after a
//	               failed install
//	-how control   run -control with sh -c: the node's restart command,
//	               or any command that restarts the node (beamupd install
//	               of a release that goes cold)
//
// What it prints:
//
//	-report booted    (the default) from the start of the restart until
//	                  the node is another incarnation (with -how control,
//	                  another OS pid) and init has finished booting
//	-report downtime  from the last answer of the old incarnation with
//	                  -app running to the first answer of a new one with
//	                  -app running (at version -vsn, if given), the node
//	                  called about every -every (1 ms) throughout: each
//	                  call is erlang:whereis(application_controller),
//	                  whose pid names the incarnation, then
//	                  application:which_applications(); the time of an
//	                  answer is when the second reply arrived
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/ergo-services/ergo/etf"

	"github.com/beamup/beamup/beam"
	"github.com/beamup/beamup/otprel"
)

func main() {
	node := flag.String("node", "", "node name")
	cookieFile := flag.String("cookie-file", "", "cookie file")
	epmd := flag.Int("epmd-port", 4369, "epmd port")
	how := flag.String("how", "self", "self or control")
	control := flag.String("control", "", "command to run with sh -c, for -how control")
	report := flag.String("report", "booted", "booted or downtime")
	app := flag.String("app", "gauge", "the application whose running means the node serves, for -report downtime")
	vsn := flag.String("vsn", "", "the version of -app the new incarnation must run, for -report downtime (default any)")
	every := flag.Duration("every", time.Millisecond, "how often to call the node, for -report downtime")
	verbose := flag.Bool("v", false, "say on stderr when the answers came")
	flag.Parse()
	err := run(*node, *cookieFile, *epmd, *how, *control, *report, probe{app: *app, vsn: *vsn, every: *every, verbose: *verbose})
	if err != nil {
		fmt.Fprintln(os.Stderr, "restartbench:", err)
		os.Exit(1)
	}
}

type probe struct {
	app, vsn string
	every    time.Duration
	verbose  bool
}

func run(node, cookieFile string, epmd int, how, control, report string, p probe) error {
	cookie, err := os.ReadFile(cookieFile)
	if err != nil {
		return err
	}
	if how != "self" && how != "control" {
		return fmt.Errorf("-how %q: want self or control", how)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := beam.Dial(ctx, beam.Options{Node: node, Cookie: string(cookie), EPMDPort: epmd, CallTimeout: time.Second})
	if err != nil {
		return err
	}
	var ms float64
	switch report {
	case "booted":
		ms, err = untilBooted(ctx, c, how, control)
	case "downtime":
		ms, err = downtime(ctx, c, how, control, p)
	default:
		return fmt.Errorf("-report %q: want booted or downtime", report)
	}
	if err != nil {
		return err
	}
	fmt.Printf("%.1f\n", ms)
	return nil
}

// restart starts the restart and returns a channel that gets its outcome:
// with -how control, once the command has exited.
func restart(ctx context.Context, c *beam.Client, how, control string) <-chan error {
	done := make(chan error, 1)
	if how == "self" {
		c.Call(ctx, "init", "restart") // answers before the node goes down
		done <- nil
		return done
	}
	go func() {
		var out bytes.Buffer
		cmd := exec.CommandContext(ctx, "sh", "-c", control)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			done <- fmt.Errorf("%s: %v\n%s", control, err, out.Bytes())
			return
		}
		done <- nil
	}()
	return done
}

func untilBooted(ctx context.Context, c *beam.Client, how, control string) (float64, error) {
	before, err := c.Incarnation(ctx)
	if err != nil {
		return 0, err
	}
	pid, err := c.OSPid(ctx)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := <-restart(ctx, c, how, control); err != nil {
		return 0, err
	}
	for {
		inc, err := c.Incarnation(ctx)
		newPid, perr := c.OSPid(ctx)
		back := err == nil && perr == nil && inc != before && (how == "self" || newPid != pid)
		if back {
			if booted, _ := c.Booted(ctx); booted {
				break
			}
		}
		if ctx.Err() != nil {
			return 0, fmt.Errorf("the node did not come back: %v", ctx.Err())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return float64(time.Since(start).Microseconds()) / 1000, nil
}

// answer is one call of the downtime probe: the incarnation that answered
// and the version of the application it runs ("" when it does not).
type answer struct {
	inc etf.Pid
	vsn string
}

// ask calls the node once. A call that takes longer than 200 ms is given
// up: a node going down may keep the connection while its rex is gone,
// and the probe must keep calling at its pace.
func (p probe) ask(ctx context.Context, c *beam.Client) (answer, error) {
	ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	t, err := c.Call(ctx, "erlang", "whereis", etf.Atom("application_controller"))
	if err != nil {
		return answer{}, err
	}
	inc, ok := t.(etf.Pid)
	if !ok {
		return answer{}, fmt.Errorf("no application controller: %s", otprel.Format(t))
	}
	apps, err := c.StartedApps(ctx)
	if err != nil {
		return answer{}, err
	}
	for _, a := range apps {
		if a.Name == p.app {
			return answer{inc: inc, vsn: a.Version}, nil
		}
	}
	return answer{inc: inc}, nil
}

func downtime(ctx context.Context, c *beam.Client, how, control string, p probe) (float64, error) {
	first, err := p.ask(ctx, c)
	if err != nil {
		return 0, err
	}
	if first.vsn == "" {
		return 0, fmt.Errorf("%s does not run before the restart", p.app)
	}
	lastOld := time.Now()
	start := lastOld
	var (
		firstNew time.Time
		lastAny  time.Time // the last answer of the old incarnation, app running or not
		upAgain  time.Time // the first answer of a new one, app running or not
		calls    int
		answers  int
		slowest  time.Duration // the longest wait for an answer of the old incarnation
		done     = restart(ctx, c, how, control)
		exited   bool
	)
	for tick := start; ; {
		a, err := p.ask(ctx, c)
		now := time.Now()
		calls++
		if err == nil {
			answers++
			if a.inc == first.inc {
				lastAny = now
			} else if upAgain.IsZero() {
				upAgain = now
			}
			if a.inc == first.inc && a.vsn != "" {
				slowest = max(slowest, now.Sub(lastOld))
				lastOld = now
			} else if a.inc != first.inc && a.vsn != "" && (p.vsn == "" || a.vsn == p.vsn) {
				firstNew = now
				break
			}
		}
		if !exited {
			select {
			case err := <-done:
				if err != nil {
					return 0, err
				}
				exited = true
			default:
			}
		}
		if ctx.Err() != nil {
			return 0, fmt.Errorf("no new incarnation running %s %s: %v", p.app, p.vsn, ctx.Err())
		}
		tick = tick.Add(p.every)
		if d := time.Until(tick); d > 0 {
			time.Sleep(d)
		} else {
			tick = now
		}
	}
	if !exited {
		// beamupd install goes on after the node is back (health, commit):
		// its outcome counts, its time does not.
		if err := <-done; err != nil {
			return 0, err
		}
	}
	if p.verbose {
		ms := func(t time.Time) float64 { return float64(t.Sub(start).Microseconds()) / 1000 }
		fmt.Fprintf(os.Stderr, "restartbench: the old incarnation answered running %s until %.1f ms (at all until %.1f ms, at least every %.1f ms); the new one answered from %.1f ms, running %s %s from %.1f ms; %d calls, %d answered\n",
			p.app, ms(lastOld), ms(lastAny), float64(slowest.Microseconds())/1000, ms(upAgain), p.app, p.vsn, ms(firstNew), calls, answers)
	}
	return float64(firstNew.Sub(lastOld).Microseconds()) / 1000, nil
}
