package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/beamup/beamup/agent"
)

// handover executes the new beamupd in place of this process, with the
// same arguments: under systemd it keeps the main PID, so the service
// never stops, and the new binary commits the self-update as it starts.
func handover(path string) error {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, agent.TrialEnv+"=") {
			env = append(env, kv)
		}
	}
	if err := syscall.Exec(path, append([]string{path}, os.Args[1:]...), env); err != nil {
		return fmt.Errorf("executing the new beamupd %s: %w", path, err)
	}
	return nil // not reached
}
