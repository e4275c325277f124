package beam

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/ergo-services/ergo/etf"

	"github.com/beamup/beamup/otprel"
)

// RootDir returns code:root_dir() of the node.
func (c *Client) RootDir(ctx context.Context) (string, error) {
	t, err := c.Call(ctx, "code", "root_dir")
	if err != nil {
		return "", err
	}
	s, ok := otprel.String(t)
	if !ok {
		return "", fmt.Errorf("code:root_dir: %s", otprel.Format(t))
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
	s, ok := otprel.String(t)
	if !ok {
		return "", fmt.Errorf("os:getpid: %s", otprel.Format(t))
	}
	return s, nil
}

// Incarnation names the node's current boot: its OS pid and the pid of
// its application controller. Both change when the node is restarted by
// its control; only the second when OTP restarts the node in place
// (init:restart, as release_handler does after a failed install).
func (c *Client) Incarnation(ctx context.Context) (string, error) {
	t, err := c.Eval(ctx, `os:getpid() ++ "/" ++ pid_to_list(whereis(application_controller)).`)
	if err != nil {
		return "", err
	}
	s, ok := otprel.String(t)
	if !ok {
		return "", fmt.Errorf("incarnation: %s", otprel.Format(t))
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
func (c *Client) StartedApps(ctx context.Context) ([]otprel.App, error) {
	t, err := c.Call(ctx, "application", "which_applications")
	if err != nil {
		return nil, err
	}
	list, ok := t.(etf.List)
	if !ok {
		return nil, fmt.Errorf("which_applications: %s", otprel.Format(t))
	}
	var apps []otprel.App
	for _, e := range list {
		r, ok := e.(etf.Tuple)
		if !ok || len(r) != 3 {
			continue
		}
		name, _ := otprel.String(r[0])
		vsn, _ := otprel.String(r[2])
		apps = append(apps, otprel.App{Name: name, Version: vsn})
	}
	return apps, nil
}

// Eval evaluates an Erlang expression sequence on the node, such as
// "lists:sum([1,2])." It is for checks that would take one rpc per process
// or per module if done from here.
func (c *Client) Eval(ctx context.Context, src string) (etf.Term, error) {
	return c.EvalWith(ctx, src, nil)
}

// EvalWith evaluates src with the variables of bindings bound, so that
// values reach the node as terms rather than as quoted source. It is one
// call: the node scans, parses and evaluates src itself (evalSrc), where
// the three as calls of their own cost two more round trips each time.
func (c *Client) EvalWith(ctx context.Context, src string, bindings map[string]etf.Term) (etf.Term, error) {
	// erl_eval takes bindings as an orddict: sorted by name.
	b := etf.List{}
	for _, k := range slices.Sorted(maps.Keys(bindings)) {
		b = append(b, etf.Tuple{etf.Atom(k), bindings[k]})
	}
	t, err := c.Call(ctx, "erl_eval", "exprs", evalSrc, etf.List{
		etf.Tuple{etf.Atom("B"), b}, etf.Tuple{etf.Atom("S"), src}})
	if err != nil {
		return nil, err
	}
	r, ok := t.(etf.Tuple)
	if !ok || len(r) != 3 || r[0] != etf.Atom("value") {
		return nil, fmt.Errorf("evaluating %q: %s", src, otprel.Format(t))
	}
	return r[1], nil
}

// evalSrc is erl_parse's form of
//
//	{ok, T, _} = erl_scan:string(S), {ok, E} = erl_parse:parse_exprs(T),
//	{value, V, _} = erl_eval:exprs(E, B), V.
var evalSrc = func() etf.List {
	atom := func(a string) etf.Tuple { return etf.Tuple{etf.Atom("atom"), 1, etf.Atom(a)} }
	v := func(name string) etf.Tuple { return etf.Tuple{etf.Atom("var"), 1, etf.Atom(name)} }
	tuple := func(es ...etf.Term) etf.Tuple { return etf.Tuple{etf.Atom("tuple"), 1, etf.List(es)} }
	call := func(mod, fun string, args ...etf.Term) etf.Tuple {
		return etf.Tuple{etf.Atom("call"), 1, etf.Tuple{etf.Atom("remote"), 1, atom(mod), atom(fun)}, etf.List(args)}
	}
	match := func(p, e etf.Term) etf.Tuple { return etf.Tuple{etf.Atom("match"), 1, p, e} }
	return etf.List{
		match(tuple(atom("ok"), v("T"), v("_")), call("erl_scan", "string", v("S"))),
		match(tuple(atom("ok"), v("E")), call("erl_parse", "parse_exprs", v("T"))),
		match(tuple(atom("value"), v("V"), v("_")), call("erl_eval", "exprs", v("E"), v("B"))),
		v("V"),
	}
}()

// OldCode is what runs old code of some modules.
type OldCode struct {
	Count   int      // processes
	Modules []string // the modules of which they run old code
	Named   []string // up to the max asked, as "name <pid>"
}

// OldCodeProcesses finds the processes that still run old code of one of
// mods: how many, of which modules, and up to max of them described as
// "name <pid>" (the pid as the node prints it).
func (c *Client) OldCodeProcesses(ctx context.Context, mods []string, max int) (OldCode, error) {
	if len(mods) == 0 {
		return OldCode{}, nil
	}
	ms := make(etf.List, len(mods))
	for i, m := range mods {
		ms[i] = etf.Atom(m)
	}
	t, err := c.EvalWith(ctx, `
		Ps = [{M, P} || M <- Mods, erlang:check_old_code(M), P <- erlang:processes(),
		                erlang:check_process_code(P, M)],
		Name = fun(P) -> case erlang:process_info(P, registered_name) of
		                     {registered_name, N} -> atom_to_list(N) ++ " "; _ -> "" end end,
		{length(Ps), [atom_to_list(M) || M <- lists:usort([M || {M, _} <- Ps])],
		 [Name(P) ++ pid_to_list(P) || {_, P} <- lists:sublist(Ps, Max)]}.`,
		map[string]etf.Term{"Mods": ms, "Max": max})
	if err != nil {
		return OldCode{}, err
	}
	r, ok := t.(etf.Tuple)
	if !ok || len(r) != 3 {
		return OldCode{}, fmt.Errorf("old code check: %s", otprel.Format(t))
	}
	var oc OldCode
	oc.Count, _ = otprel.Int(r[0])
	oc.Modules, oc.Named = stringList(r[1]), stringList(r[2])
	return oc, nil
}

func stringList(t etf.Term) []string {
	var out []string
	if l, ok := t.(etf.List); ok {
		for _, e := range l {
			s, _ := otprel.String(e)
			out = append(out, s)
		}
	}
	return out
}

// Exported says whether mod:fun/arity can be called on the node: the
// module loads, and exports it.
func (c *Client) Exported(ctx context.Context, mod, fun string, arity int) (bool, error) {
	if _, err := c.Call(ctx, "code", "ensure_loaded", etf.Atom(mod)); err != nil {
		return false, err
	}
	t, err := c.Call(ctx, "erlang", "function_exported", etf.Atom(mod), etf.Atom(fun), arity)
	if err != nil {
		return false, err
	}
	// ergo decodes the atoms true and false as Go booleans.
	return t == true || t == etf.Atom("true"), nil
}

// CallHealth runs mod:fun() and returns nil when it answers ok.
func (c *Client) CallHealth(ctx context.Context, mod, fun string) error {
	t, err := c.Call(ctx, mod, fun)
	if err != nil {
		return err
	}
	if t != etf.Atom("ok") {
		return fmt.Errorf("%s:%s() returned %s", mod, fun, otprel.Format(t))
	}
	return nil
}
