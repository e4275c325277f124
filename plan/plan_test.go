package plan

import (
	"fmt"
	"testing"
)

// Each plan, run to its end without a failure, performs its steps in
// order and then commits.
func TestPlansRunInOrder(t *testing.T) {
	for _, p := range []Plan{Hot, Cold, Back, Rollback, SelfUpdate} {
		var got []Step
		for a := p.First(); a.Kind == Do || a.Kind == Pause; a = p.Next(a.Step, false) {
			if a.Kind == Pause {
				// Taken on by the next call: the step after.
				a = Action{Kind: Do, Step: p.Steps[len(got)]}
			}
			got = append(got, a.Step)
			if len(got) > len(Table) {
				t.Fatalf("%s: no end: %v", p.Name, got)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(p.Steps) {
			t.Errorf("%s ran %v, want %v", p.Name, got, p.Steps)
		}
		want := Finish
		if p.Name == "self-update" {
			want = Handover // the new beamupd finishes it
		}
		if a := p.Next(p.Steps[len(p.Steps)-1], false); a.Kind != want {
			t.Errorf("%s after its last step: %v, want %v", p.Name, a.Kind, want)
		}
	}
}

// wantBack is the way back from a failure at each step of an install:
// nothing to take back before a change, removal before the node could run
// new code, a restart on the permanent release from then on.
var wantBack = map[Step]Kind{
	Verified:   Discard,
	Copying:    Undo,
	Unpacking:  Undo,
	Installing: Revert,
	Booting:    Revert,
	Rebooting:  Revert,
	Checking:   Revert,
	Committing: Revert,
}

func TestFailureAtEveryStep(t *testing.T) {
	for _, p := range []Plan{Hot, Cold} {
		for _, s := range p.Steps {
			if got := p.Next(s, true); got.Kind != wantBack[s] {
				t.Errorf("%s: failure at %s: %v, want %v", p.Name, s, got.Kind, wantBack[s])
			}
		}
	}
	if got := Rollback.Next(RollingBack, true); got.Kind != Revert {
		t.Errorf("rollback failed: %v, want revert", got.Kind)
	}
	for _, s := range SelfUpdate.Steps {
		if got := SelfUpdate.Next(s, true); got.Kind == Revert || got.Kind == Undo {
			t.Errorf("self-update failed at %s: %v; the node was never touched", s, got.Kind)
		}
	}
}

// A crash at any step of any plan: the steps whose effect is unknown ask
// the device, the others go back their way, and nothing is committed that
// the node (or the running beamupd) does not report.
func TestCrashAtEveryStep(t *testing.T) {
	const target = "1.1.0"
	cases := []struct {
		plan  Plan
		step  Step
		facts Facts
		want  Kind
	}{
		{Rollback, RollingBack, Facts{Permanent: target}, Finish},
		{Rollback, RollingBack, Facts{Permanent: "1.0.0"}, Revert},
		{Rollback, RollingBack, Facts{}, Revert},
		{SelfUpdate, AgentStaged, Facts{Agent: "1.0.0"}, Discard},
		{SelfUpdate, AgentTrying, Facts{Agent: "1.0.0"}, Discard},
		{SelfUpdate, AgentReplacing, Facts{Agent: target}, Finish},
		{SelfUpdate, AgentReplacing, Facts{Agent: "1.0.0"}, Discard},
	}
	for _, p := range []Plan{Hot, Cold} {
		for _, s := range p.Steps {
			// Whatever the node reports, only committing may finish.
			for _, f := range []Facts{{}, {Permanent: "1.0.0"}, {Permanent: target}} {
				want := wantBack[s]
				if s == Committing && f.Permanent == target {
					want = Finish
				}
				cases = append(cases, struct {
					plan  Plan
					step  Step
					facts Facts
					want  Kind
				}{p, s, f, want})
			}
		}
	}
	for _, c := range cases {
		if got := Resume(c.step, target, 1, c.facts); got.Kind != c.want {
			t.Errorf("%s: crash at %s with %+v: %v, want %v", c.plan.Name, c.step, c.facts, got.Kind, c.want)
		}
	}
}

func TestResumeEdges(t *testing.T) {
	if got := Resume(Checking, "1.1.0", MaxResumes+1, Facts{}); got.Kind != GiveUp {
		t.Errorf("after %d resumes: %v, want give up", MaxResumes+1, got.Kind)
	}
	if got := Resume("defragmenting", "1.1.0", 1, Facts{Permanent: "1.1.0"}); got.Kind != Revert {
		t.Errorf("unknown step: %v, want revert", got.Kind)
	}
	// Journal format 1 named two steps for what had happened.
	for _, old := range []Step{"copied", "unpacked"} {
		if got := Resume(old, "1.1.0", 1, Facts{}); got.Kind != Undo {
			t.Errorf("format-1 step %s: %v, want undo", old, got.Kind)
		}
	}
	if got := Resume(Reverting, "1.1.0", 1, Facts{Permanent: "1.1.0"}); got.Kind != Revert {
		t.Errorf("interrupted revert: %v, want revert", got.Kind)
	}
}

// The table says which steps are past the point of no return: in a hot
// install from install_release, in a cold one from the boot prepared.
func TestPointOfNoReturn(t *testing.T) {
	first := map[string]Step{"hot": Installing, "cold": Booting}
	for _, p := range []Plan{Hot, Cold} {
		past := false
		for _, s := range p.Steps {
			past = past || s == first[p.Name]
			d, ok := Lookup(s)
			if !ok {
				t.Fatalf("%s: step %s not in the table", p.Name, s)
			}
			if d.PastNoReturn() != past {
				t.Errorf("%s: %s past the point of no return: %v, want %v", p.Name, s, d.PastNoReturn(), past)
			}
			if d.State == "" || d.Does == "" {
				t.Errorf("%s: %s has no state or description", p.Name, s)
			}
		}
	}
}

func TestOf(t *testing.T) {
	for _, c := range []struct{ kind, path, want string }{
		{"install", "", "hot"}, {"install", "hot", "hot"}, {"install", "cold", "cold"}, {"install", "back", "back"},
		{"rollback", "", "rollback"}, {"self-update", "", "self-update"},
	} {
		if got := Of(c.kind, c.path).Name; got != c.want {
			t.Errorf("Of(%q, %q) = %s, want %s", c.kind, c.path, got, c.want)
		}
	}
}

// A step journaled while it acts is one whose crash may be resumed as one
// in the step before it: in every plan that has it, the two go back the
// same way after a failure and after a crash, whatever the node reports.
func TestJournaledWhileActing(t *testing.T) {
	var found int
	for _, p := range []Plan{Hot, Cold, Back, Rollback, SelfUpdate} {
		for i, s := range p.Steps {
			if d, _ := Lookup(s); !d.JournaledWhileActing() {
				continue
			}
			found++
			if i == 0 {
				t.Errorf("%s: %s, its first step, is journaled while it acts", p.Name, s)
				continue
			}
			prev := p.Steps[i-1]
			if a, b := p.Next(s, true), p.Next(prev, true); a != b {
				t.Errorf("%s: a failure at %s goes %v, at %s %v", p.Name, s, a.Kind, prev, b.Kind)
			}
			for _, f := range []Facts{{}, {Permanent: "1.0.0"}, {Permanent: "1.1.0"}} {
				if a, b := Resume(s, "1.1.0", 1, f), Resume(prev, "1.1.0", 1, f); a != b {
					t.Errorf("%s: a crash at %s resumes %v, at %s %v (%+v)", p.Name, s, a.Kind, prev, b.Kind, f)
				}
			}
		}
	}
	if found == 0 {
		t.Error("no step is journaled while it acts")
	}
}
