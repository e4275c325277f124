package updater

import (
	"strings"
	"testing"

	"github.com/beamup/beamup/otprel"
)

// What makes an upgrade cold, and what does not.
func TestColdReasons(t *testing.T) {
	sum := func(b byte) [32]byte { return [32]byte{b} }
	rel := func(cfg map[string][32]byte) *otprel.ReleaseFiles {
		return &otprel.ReleaseFiles{
			Release:   otprel.Release{Name: "a", Version: "2", ERTS: "13.1.5", Apps: []otprel.App{{Name: "a", Version: "2"}}},
			RelupFrom: []string{"1"},
			Relup:     []byte(`{"2",[{"1",[],[point_of_no_return]}],[{"1",[],[point_of_no_return]}]}.`),
			Config:    cfg,
		}
	}
	for _, c := range []struct {
		name     string
		old, new map[string][32]byte
		want     string
	}{
		{"same", map[string][32]byte{"vm.args": sum(1)}, map[string][32]byte{"vm.args": sum(1)}, ""},
		{"sys.config only", map[string][32]byte{"sys.config": sum(1)}, map[string][32]byte{"sys.config": sum(2)}, ""},
		{"vm.args", map[string][32]byte{"vm.args": sum(1)}, map[string][32]byte{"vm.args": sum(2)}, "vm.args changes"},
		// relx writes vm.args from vm.args.src at each start: only the
		// template counts.
		{"relx template same", map[string][32]byte{"vm.args": sum(9), "vm.args.src": sum(1)}, map[string][32]byte{"vm.args.src": sum(1)}, ""},
		{"relx template changed", map[string][32]byte{"vm.args": sum(9), "vm.args.src": sum(1)}, map[string][32]byte{"vm.args.src": sum(2)}, "vm.args.src changes"},
		{"relup restarts", nil, nil, "restart_emulator"},
		{"runtime.exs", map[string][32]byte{"runtime.exs": sum(1)}, map[string][32]byte{"runtime.exs": sum(2)}, "runtime.exs changes"},
	} {
		old := rel(c.old)
		old.Version = "1"
		new := rel(c.new)
		if c.name == "relup restarts" {
			new.Relup = []byte(`{"2",[{"1",[],[point_of_no_return,restart_emulator]}],[]}.`)
		}
		got := strings.Join(ColdReasons(old, new), "; ")
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%s: reasons %q, want %q", c.name, got, c.want)
		}
	}
}
