package mqtt

import (
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/beamup/beamup/internal/durable"
	"github.com/beamup/beamup/report"
)

// tried remembers the bundles this device has tried and how they ended,
// so that a bundle that reverted or was rejected here is not fetched again
// while a target still names it (the update loops fleet tools are known
// for). It survives restarts of beamupd.
type tried struct {
	path string
	m    map[string]report.Outcome
}

func loadTried(stateDir string) *tried {
	t := &tried{path: filepath.Join(stateDir, "mqtt-tried.json"), m: map[string]report.Outcome{}}
	if data, err := os.ReadFile(t.path); err == nil {
		json.Unmarshal(data, &t.m)
	}
	return t
}

func (t *tried) get(id string) (report.Outcome, bool) {
	o, ok := t.m[id]
	return o, ok
}

func (t *tried) set(id string, o report.Outcome) error {
	if len(t.m) > 100 { // only the recent past matters
		t.m = map[string]report.Outcome{}
	}
	t.m[id] = o
	data, _ := json.Marshal(t.m)
	return durable.WriteFile(t.path, data, 0o644)
}
