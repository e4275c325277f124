// Command restartbench is make bench's baseline for the revert figure: it
// restarts the node one way and prints the milliseconds until the node has
// booted again, watched over Erlang distribution the way beamupd watches
// it (not through erl_call, whose own start dominated the figure).
//
//	-how self      rpc init:restart(), as release_handler does after a
//	               failed install; done when the application controller
//	               is new and init has finished booting
//	-how control   run -control with sh -c (the node's restart command);
//	               done when the node has another OS pid and has booted
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/beamup/beamup/beam"
)

func main() {
	node := flag.String("node", "", "node name")
	cookieFile := flag.String("cookie-file", "", "cookie file")
	epmd := flag.Int("epmd-port", 4369, "epmd port")
	how := flag.String("how", "self", "self or control")
	control := flag.String("control", "", "restart command, for -how control")
	flag.Parse()
	if err := run(*node, *cookieFile, *epmd, *how, *control); err != nil {
		fmt.Fprintln(os.Stderr, "restartbench:", err)
		os.Exit(1)
	}
}

func run(node, cookieFile string, epmd int, how, control string) error {
	cookie, err := os.ReadFile(cookieFile)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := beam.Dial(ctx, beam.Options{Node: node, Cookie: string(cookie), EPMDPort: epmd, CallTimeout: time.Second})
	if err != nil {
		return err
	}
	before, err := c.Incarnation(ctx)
	if err != nil {
		return err
	}
	pid, err := c.OSPid(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	switch how {
	case "self":
		c.Call(ctx, "init", "restart") // answers before the node goes down
	case "control":
		if out, err := exec.CommandContext(ctx, "sh", "-c", control).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v\n%s", control, err, out)
		}
	default:
		return fmt.Errorf("-how %q: want self or control", how)
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
			return fmt.Errorf("the node did not come back: %v", ctx.Err())
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Printf("%.1f\n", float64(time.Since(start).Microseconds())/1000)
	return nil
}
