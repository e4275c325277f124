package beam

import (
	"context"
	"fmt"

	"github.com/ergo-services/ergo/etf"
)

// RootDir returns code:root_dir() of the node.
func (c *Client) RootDir(ctx context.Context) (string, error) {
	t, err := c.Call(ctx, "code", "root_dir")
	if err != nil {
		return "", err
	}
	s, ok := String(t)
	if !ok {
		return "", fmt.Errorf("code:root_dir: %s", Format(t))
	}
	return s, nil
}

// OSPid returns the node's operating-system process id. It changes when
// the node is restarted by its control; use it to tell that a node came
// back rather than kept answering while it went down.
func (c *Client) OSPid(ctx context.Context) (string, error) {
	t, err := c.Call(ctx, "os", "getpid")
	if err != nil {
		return "", err
	}
	s, ok := String(t)
	if !ok {
		return "", fmt.Errorf("os:getpid: %s", Format(t))
	}
	return s, nil
}

// Booted says whether init has finished booting: init:get_status() is
// {started, started}. The release version is recorded while sasl starts,
// before the rest of the applications are up.
func (c *Client) Booted(ctx context.Context) (bool, error) {
	t, err := c.Call(ctx, "init", "get_status")
	if err != nil {
		return false, err
	}
	r, ok := t.(etf.Tuple)
	return ok && len(r) == 2 && r[0] == etf.Atom("started") && r[1] == etf.Atom("started"), nil
}

// StartedApps returns application:which_applications().
func (c *Client) StartedApps(ctx context.Context) ([]App, error) {
	t, err := c.Call(ctx, "application", "which_applications")
	if err != nil {
		return nil, err
	}
	list, ok := t.(etf.List)
	if !ok {
		return nil, fmt.Errorf("which_applications: %s", Format(t))
	}
	var apps []App
	for _, e := range list {
		r, ok := e.(etf.Tuple)
		if !ok || len(r) != 3 {
			continue
		}
		name, _ := String(r[0])
		vsn, _ := String(r[2])
		apps = append(apps, App{Name: name, Version: vsn})
	}
	return apps, nil
}

// Eval evaluates an Erlang expression sequence on the node, such as
// "lists:sum([1,2])." It is for checks that would take one rpc per process
// or per module if done from here.
func (c *Client) Eval(ctx context.Context, src string) (etf.Term, error) {
	t, err := c.Call(ctx, "erl_scan", "string", src)
	if err != nil {
		return nil, err
	}
	r, ok := t.(etf.Tuple)
	if !ok || len(r) != 3 || r[0] != etf.Atom("ok") {
		return nil, fmt.Errorf("scanning %q: %s", src, Format(t))
	}
	if t, err = c.Call(ctx, "erl_parse", "parse_exprs", r[1]); err != nil {
		return nil, err
	}
	if r, ok = t.(etf.Tuple); !ok || len(r) != 2 || r[0] != etf.Atom("ok") {
		return nil, fmt.Errorf("parsing %q: %s", src, Format(t))
	}
	if t, err = c.Call(ctx, "erl_eval", "exprs", r[1], etf.List{}); err != nil {
		return nil, err
	}
	if r, ok = t.(etf.Tuple); !ok || len(r) != 3 || r[0] != etf.Atom("value") {
		return nil, fmt.Errorf("evaluating %q: %s", src, Format(t))
	}
	return r[1], nil
}

// OldCodeProcesses lists the processes that still run old code of a
// module, as "module <pid> name". make_permanent and the next code purge
// kill them.
func (c *Client) OldCodeProcesses(ctx context.Context) ([]string, error) {
	t, err := c.Eval(ctx, `
		[lists:flatten(io_lib:format("~s ~s ~p", [M, pid_to_list(P),
			case erlang:process_info(P, registered_name) of
				{registered_name, N} -> N; _ -> unnamed end]))
		 || {M, _} <- code:all_loaded(), erlang:check_old_code(M),
		    P <- erlang:processes(), erlang:check_process_code(P, M)].`)
	if err != nil {
		return nil, err
	}
	list, ok := t.(etf.List)
	if !ok {
		return nil, fmt.Errorf("old code check: %s", Format(t))
	}
	var out []string
	for _, e := range list {
		s, _ := String(e)
		out = append(out, s)
	}
	return out, nil
}

// CallHealth runs mod:fun() and returns nil when it answers ok.
func (c *Client) CallHealth(ctx context.Context, mod, fun string) error {
	t, err := c.Call(ctx, mod, fun)
	if err != nil {
		return err
	}
	if t != etf.Atom("ok") {
		return fmt.Errorf("%s:%s() returned %s", mod, fun, Format(t))
	}
	return nil
}
