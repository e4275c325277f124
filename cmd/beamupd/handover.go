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
	env := environWithout(func(k string) bool { return k == agent.TrialEnv })
	if err := syscall.Exec(path, append([]string{path}, os.Args[1:]...), env); err != nil {
		return fmt.Errorf("executing the new beamupd %s: %w", path, err)
	}
	return nil // not reached
}

// environWithout is this process's environment less the variables whose
// name drop matches.
func environWithout(drop func(key string) bool) []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !drop(k) {
			env = append(env, kv)
		}
	}
	return env
}
