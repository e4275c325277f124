package mqtt

import (
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/beamup/beamup/internal/durable"
	"github.com/beamup/beamup/updater"
)

// tried remembers the bundles this device has tried and how they ended,
// so that a bundle that reverted or was rejected here is not fetched again
// while a target still names it (the update loops fleet tools are known
// for). It survives restarts of beamupd.
type tried struct {
	path string
	m    map[string]updater.Outcome
}

func loadTried(stateDir string) *tried {
	t := &tried{path: filepath.Join(stateDir, "mqtt-tried.json"), m: map[string]updater.Outcome{}}
	if data, err := os.ReadFile(t.path); err == nil {
		json.Unmarshal(data, &t.m)
	}
	return t
}

func (t *tried) get(id string) (updater.Outcome, bool) {
	o, ok := t.m[id]
	return o, ok
}

func (t *tried) set(id string, o updater.Outcome) error {
	if len(t.m) > 100 { // only the recent past matters
		t.m = map[string]updater.Outcome{}
	}
	t.m[id] = o
	data, _ := json.Marshal(t.m)
	return durable.WriteFile(t.path, data, 0o644)
}
