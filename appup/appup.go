// Package appup makes an application's .appup from its modules in two
// versions, read from their BEAM files (package beamfile): which modules
// were added, removed or changed (by their code), how each changed one is
// upgraded (a supervisor, a process with code_change, or a plain load),
// and in which order: a module after the modules it calls, cycles said.
package appup

import (
	"fmt"
	"slices"
	"strings"

	"github.com/beamup/beamup/beamfile"
	"github.com/beamup/beamup/otprel"
)

// Version is one version of an application: its modules by name.
type Version struct {
	Vsn     string
	Modules map[string]*beamfile.Module
}

// Instruction is one high-level appup instruction.
type Instruction struct {
	Op     string // add_module, delete_module, load_module or update
	Module string
	// Change is update's: "supervisor" or "{advanced,[]}".
	Change string
	// Deps are the modules that must be loaded first (load_module and
	// update).
	Deps []string
}

// Appup is an application's upgrade from one version to the next and the
// way back.
type Appup struct {
	App      string
	Old, New string
	Up, Down []Instruction
	// Cycles lists the groups of changed modules that call each other;
	// their order among themselves is by name.
	Cycles [][]string
}

// Make compares two versions of app.
func Make(app string, old, new Version) *Appup {
	a := &Appup{App: app, Old: old.Vsn, New: new.Vsn}
	var added, removed, changed []string
	for name, m := range new.Modules {
		o, ok := old.Modules[name]
		switch {
		case !ok:
			added = append(added, name)
		case o.Digest != m.Digest:
			changed = append(changed, name)
		}
	}
	for name := range old.Modules {
		if _, ok := new.Modules[name]; !ok {
			removed = append(removed, name)
		}
	}
	loaded := append(append([]string{}, added...), changed...) // what the upgrade loads
	order, cycles := topo(loaded, new.Modules)
	a.Cycles = cycles
	isAdded := func(m string) bool { return slices.Contains(added, m) }
	for _, name := range order {
		if isAdded(name) {
			a.Up = append(a.Up, Instruction{Op: "add_module", Module: name})
			continue
		}
		a.Up = append(a.Up, instruction(new.Modules[name], deps(new.Modules[name], loaded)))
	}
	slices.Sort(removed)
	for _, name := range removed {
		a.Up = append(a.Up, Instruction{Op: "delete_module", Module: name})
	}
	// The way back, in reverse: what was added is deleted, what was
	// removed comes back, each changed module as its old version is.
	back := append(append([]string{}, removed...), changed...) // what the downgrade loads
	for i := len(a.Up) - 1; i >= 0; i-- {
		in := a.Up[i]
		switch in.Op {
		case "add_module":
			a.Down = append(a.Down, Instruction{Op: "delete_module", Module: in.Module})
		case "delete_module":
			a.Down = append(a.Down, Instruction{Op: "add_module", Module: in.Module})
		default:
			m := old.Modules[in.Module]
			a.Down = append(a.Down, instruction(m, deps(m, back)))
		}
	}
	return a
}

// processBehaviours are the behaviours whose processes keep state across
// a code change, Erlang's and Elixir's names.
var processBehaviours = []string{"gen_server", "gen_statem", "gen_event", "gen_fsm",
	"Elixir.GenServer", "Elixir.GenStateMachine", "Elixir.GenEvent", "Elixir.Agent", "Elixir.Task"}

// instruction is how a changed module m is upgraded.
func instruction(m *beamfile.Module, deps []string) Instruction {
	in := Instruction{Op: "load_module", Module: m.Name, Deps: deps}
	switch {
	case slices.Contains(m.Behaviours, "supervisor") || slices.Contains(m.Behaviours, "Elixir.Supervisor"):
		in.Op, in.Change, in.Deps = "update", "supervisor", nil
	case slices.ContainsFunc(m.Behaviours, func(b string) bool { return slices.Contains(processBehaviours, b) }),
		m.Exported("code_change/3"), m.Exported("code_change/4"), m.Exported("system_code_change/4"):
		in.Op, in.Change = "update", "{advanced,[]}"
	}
	return in
}

// deps are the modules of among that m calls.
func deps(m *beamfile.Module, among []string) []string {
	var d []string
	for _, c := range m.Calls {
		if c != m.Name && slices.Contains(among, c) {
			d = append(d, c)
		}
	}
	return d
}

// topo orders names so that a module comes after the modules it calls
// (Tarjan's strongly connected components, which come out callees
// first); modules that call each other form a cycle, ordered by name.
func topo(names []string, mods map[string]*beamfile.Module) (order []string, cycles [][]string) {
	slices.Sort(names)
	index, low := map[string]int{}, map[string]int{}
	onStack := map[string]bool{}
	var stack []string
	next := 0
	var visit func(string)
	visit = func(v string) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range deps(mods[v], names) {
			if _, seen := index[w]; !seen {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] != index[v] {
			return
		}
		var scc []string
		for {
			w := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			onStack[w] = false
			scc = append(scc, w)
			if w == v {
				break
			}
		}
		slices.Sort(scc)
		if len(scc) > 1 {
			cycles = append(cycles, scc)
		}
		order = append(order, scc...)
	}
	for _, v := range names {
		if _, seen := index[v]; !seen {
			visit(v)
		}
	}
	return order, cycles
}

// Format writes the appup as an Erlang term file, as file:consult/1 and
// systools read it.
func (a *Appup) Format() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%%%% %s %s -> %s, made by beamup appup from the BEAM files.\n", a.App, a.Old, a.New)
	for _, c := range a.Cycles {
		fmt.Fprintf(&b, "%%%% These modules call each other, ordered by name: %s.\n", strings.Join(c, ", "))
	}
	fmt.Fprintf(&b, "{%q,\n [{%q,\n   [%s]}],\n [{%q,\n   [%s]}]}.\n",
		a.New, a.Old, instrs(a.Up), a.Old, instrs(a.Down))
	return b.String()
}

func instrs(l []Instruction) string {
	parts := make([]string, len(l))
	for i, in := range l {
		parts[i] = in.String()
	}
	return strings.Join(parts, ",\n    ")
}

func (in Instruction) String() string {
	m := otprel.QuoteAtom(in.Module)
	switch in.Op {
	case "add_module", "delete_module":
		return fmt.Sprintf("{%s,%s}", in.Op, m)
	case "update":
		if in.Change == "supervisor" {
			return fmt.Sprintf("{update,%s,supervisor}", m)
		}
		return fmt.Sprintf("{update,%s,%s,%s}", m, in.Change, atoms(in.Deps))
	}
	return fmt.Sprintf("{load_module,%s,%s}", m, atoms(in.Deps))
}

func atoms(l []string) string {
	q := make([]string, len(l))
	for i, a := range l {
		q[i] = otprel.QuoteAtom(a)
	}
	return "[" + strings.Join(q, ",") + "]"
}
