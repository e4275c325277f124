// Package plan is the core of every operation beamupd performs on a device,
// without I/O, clock or goroutines: the steps of each plan in order, what
// each does, the way back from each, and where the point of no return
// lies. Next says what follows a step that ended; Resume says what follows
// a step that a crash or a power cut interrupted, from what the node and
// the running beamupd report. Package updater journals each step before it
// acts, performs it, and asks again.
package plan

// Step names a step of an operation. The names are stored in journal.json
// and read back by newer versions of beamupd: never change one.
type Step string

// The steps, named for what is under way once they are journaled.
const (
	Verified    Step = "verified"     // payload verified in staging; preflight under way
	Copying     Step = "copying"      // the .rel being written into <root>/releases
	Unpacking   Step = "unpacking"    // set_unpacked, the files checked (and check_install_release) under way
	Installing  Step = "installing"   // hot: install_release under way
	Booting     Step = "booting"      // cold: the next boot prepared to run the new release once
	Rebooting   Step = "rebooting"    // cold: the node restarted onto the new release
	Checking    Step = "checking"     // health soak under way
	Committing  Step = "committing"   // make_permanent under way
	Reverting   Step = "reverting"    // failed; restarting on the permanent release
	RollingBack Step = "rolling-back" // beamupd rollback under way

	AgentStaged    Step = "agent-staged"    // new beamupd verified in staging
	AgentTrying    Step = "agent-trying"    // new beamupd on trial
	AgentReplacing Step = "agent-replacing" // previous kept; executable being replaced
)

// Kind is what an Action asks the driver to do.
type Kind int

const (
	// Do journals Action.Step, then performs it.
	Do Kind = iota
	// Finish ends the operation as committed: the plan has run to its
	// end, or a resumed step turns out to have succeeded.
	Finish
	// Discard ends an operation that changed nothing outside the state
	// directory: the staged files are removed.
	Discard
	// Undo removes what the operation added: the node never ran new code.
	Undo
	// Revert restarts the node on its permanent release, which must be
	// healthy, and removes the failed one.
	Revert
	// GiveUp ends an operation that crashed too often, as needing a look.
	GiveUp
	// Pause leaves the operation journaled where it is: another call
	// takes it on (a staged beamupd waits for the daemon to try it).
	Pause
	// Handover leaves the operation to the new beamupd, which finishes
	// it when it runs (Resume of AgentReplacing).
	Handover
)

var kindNames = [...]string{"do", "finish", "discard", "undo", "revert", "give up", "pause", "hand over"}

func (k Kind) String() string { return kindNames[k] }

// back is the way back from a step, as Def.Back holds it.
type back int

const (
	backDiscard back = iota + 1
	backUndo
	backRevert
	// backAsk: whether the step took effect is unknown after a crash; the
	// node tells. After a failure it is a revert.
	backAsk
	// backAskAgent: whether the new beamupd replaced the running one is
	// unknown after a crash; the version that runs tells. After a failure
	// the old executable is still in place: the new one is discarded.
	backAskAgent
)

// Def is one step of the table.
type Def struct {
	Step Step
	// Does says what the step does, for people.
	Does string
	// State is the device state a status reports during the step.
	State string
	back  back
	// overlaps: a crash during the step is resumed as one during the step
	// before it in every plan, whose way back takes it back too (the
	// same, and not asking which of the two it was).
	overlaps bool
}

// PastNoReturn says whether the node may run new code from this step on,
// so that only a restart on the permanent release takes it back.
func (d Def) PastNoReturn() bool { return d.back == backRevert || d.back == backAsk }

// AsksNode says whether resuming the step needs the node's word on which
// release is permanent.
func (d Def) AsksNode() bool { return d.back == backAsk }

// JournaledWhileActing says whether the step may act while its entry in
// the journal is still being written: until it is, a crash resumes the
// step before, which has the same way back. The next step is journaled
// only after it.
func (d Def) JournaledWhileActing() bool { return d.overlaps }

// Table is every step, in the order of the plans.
var Table = []Def{
	{Verified, "preflight: compare the running and the new release, choose hot or cold", "verifying", backDiscard, false},
	{Copying, "write the release's .rel into <root>/releases/VSN, where unpack_release keeps it", "installing", backUndo, false},
	{Unpacking, "set_unpacked on the laid-out release, its files checked; check_install_release when hot", "installing", backUndo, true},
	{Installing, "install_release: the point of no return of a hot upgrade", "installing", backRevert, false},
	{Booting, "point the next boot at the new release, once; it is not permanent", "installing (cold)", backRevert, false},
	{Rebooting, "restart the node through the control onto the new release; the boot points back", "rebooting", backRevert, false},
	{Checking, "the node runs every application, the health function passes for the soak", "checking", backRevert, true},
	{Committing, "make_permanent; record security_version; what boots is what is permanent", "checking", backAsk, false},
	{Reverting, "restart the node on the permanent release; remove the failed one", "reverting", backRevert, false},
	{RollingBack, "hot downgrade to the previous release, or reboot on it", "installing", backAsk, false},
	{AgentStaged, "the new beamupd waits to be tried", "verifying", backDiscard, false},
	{AgentTrying, "the new beamupd runs on trial", "checking", backDiscard, false},
	{AgentReplacing, "the running beamupd kept, the new one renamed over it", "installing", backAskAgent, false},
}

// IsState says whether state is one that a step of some plan shows.
func IsState(state string) bool {
	for _, d := range Table {
		if d.State == state {
			return true
		}
	}
	return false
}

// Lookup returns the definition of a step, or false for a step this
// beamupd does not know.
func Lookup(s Step) (Def, bool) {
	for _, d := range Table {
		if d.Step == s {
			return d, true
		}
	}
	if n, ok := renamed[s]; ok {
		return Lookup(n)
	}
	return Def{}, false
}

// renamed maps the step names of journal format 1, which named some steps
// for what had happened, to the step under way they stood for.
var renamed = map[Step]Step{"copied": Copying, "unpacked": Unpacking}

// Plan is the steps of one kind of operation, in order.
type Plan struct {
	Name  string
	Steps []Step
	// pause names the step after which the plan waits to be taken on.
	pause Step
	// end is what follows the last step: Finish, or Handover.
	end Kind
}

// The plans. Every install starts hot; preflight, the verified step,
// decides the path, and the driver follows the plan of its decision.
var (
	Hot      = Plan{Name: "hot", Steps: []Step{Verified, Copying, Unpacking, Installing, Checking, Committing}, end: Finish}
	Cold     = Plan{Name: "cold", Steps: []Step{Verified, Copying, Unpacking, Booting, Rebooting, Checking, Committing}, end: Finish}
	Rollback = Plan{Name: "rollback", Steps: []Step{RollingBack}, end: Finish}
	// Back is an install of a release signed as a downgrade that is still
	// on the node: going back to it is a rollback.
	Back = Plan{Name: "back", Steps: []Step{Verified, RollingBack}, end: Finish}
	// SelfUpdate stages a new beamupd and waits for the daemon (or a
	// one-shot install) to try it; once it has replaced the running one,
	// the new beamupd finishes the operation.
	SelfUpdate = Plan{Name: "self-update", Steps: []Step{AgentStaged, AgentTrying, AgentReplacing}, pause: AgentStaged, end: Handover}
)

// Of returns the plan for an operation of kind (install, rollback,
// self-update) on path (hot, cold or back; empty before preflight
// decided).
func Of(kind, path string) Plan {
	switch {
	case kind == "rollback":
		return Rollback
	case kind == "self-update":
		return SelfUpdate
	case path == "cold":
		return Cold
	case path == "back":
		return Back
	}
	return Hot
}

// Action is what the driver does next.
type Action struct {
	Kind Kind
	Step Step // for Do
}

// First is the plan's first step.
func (p Plan) First() Action { return Action{Kind: Do, Step: p.Steps[0]} }

// Next says what follows step at when it has ended, failed or not: the
// plan's next step, Finish after its last, or the way back from at.
func (p Plan) Next(at Step, failed bool) Action {
	if failed {
		return wayBack(at)
	}
	for i, s := range p.Steps {
		switch {
		case s != at:
			continue
		case i+1 == len(p.Steps):
			return Action{Kind: p.end}
		case s == p.pause:
			return Action{Kind: Pause}
		}
		return Action{Kind: Do, Step: p.Steps[i+1]}
	}
	// A step not in the plan ended: stop, the safe way.
	return wayBack(at)
}

func wayBack(at Step) Action {
	d, ok := Lookup(at)
	if !ok {
		return Action{Kind: Revert}
	}
	switch d.back {
	case backDiscard, backAskAgent:
		return Action{Kind: Discard}
	case backUndo:
		return Action{Kind: Undo}
	}
	return Action{Kind: Revert}
}

// MaxResumes breaks crash loops: an operation picked up after a crash
// this many times is given up.
const MaxResumes = 5

// Facts is what the device reports when an interrupted operation is
// picked up.
type Facts struct {
	// Permanent is the version the node reports permanent, "" when the
	// node does not answer.
	Permanent string
	// Agent is the version of the beamupd that runs.
	Agent string
}

// Resume says what follows step at of an operation towards version,
// interrupted for the resumes-th time, given what the device reports.
func Resume(at Step, version string, resumes int, f Facts) Action {
	if resumes > MaxResumes {
		return Action{Kind: GiveUp}
	}
	d, ok := Lookup(at)
	if !ok {
		// Journaled by a newer beamupd: the node may run anything.
		return Action{Kind: Revert}
	}
	switch {
	case d.back == backAsk && f.Permanent == version,
		d.back == backAskAgent && f.Agent == version:
		return Action{Kind: Finish}
	}
	return wayBack(at)
}
