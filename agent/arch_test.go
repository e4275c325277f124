package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The running test binary is an executable for Arch(), and for no other.
func TestCheckExecutable(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckExecutable(exe, Arch()); err != nil {
		t.Errorf("the test binary for %s: %v", Arch(), err)
	}
	other := "riscv64"
	if Arch() == other {
		other = "arm64"
	}
	if err := CheckExecutable(exe, other); err == nil || !strings.Contains(err.Error(), "this device is "+other) {
		t.Errorf("the test binary as %s: %v", other, err)
	}
	script := filepath.Join(t.TempDir(), "beamupd")
	os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755)
	if err := CheckExecutable(script, Arch()); err == nil || !strings.Contains(err.Error(), "not an ELF") {
		t.Errorf("a script: %v", err)
	}
}
