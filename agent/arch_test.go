package agent

import (
	"encoding/binary"
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

// elfHeader is the start of an ELF file of the given class, byte order,
// type and machine: all that CheckExecutable reads.
func elfHeader(class, data byte, typ, machine uint16) []byte {
	h := make([]byte, 64)
	copy(h, "\x7fELF")
	h[4], h[5], h[6] = class, data, 1
	order := binary.ByteOrder(binary.LittleEndian)
	if data == 2 {
		order = binary.BigEndian
	}
	order.PutUint16(h[16:], typ)
	order.PutUint16(h[18:], machine)
	return h
}

// Each arch beamupd is built for accepts its own executables and refuses
// those of the others, whatever the manifest says.
func TestCheckExecutableArchs(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, h []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, h, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	files := map[string]string{ // arch as manifests name it -> a binary for it
		"amd64":   write("amd64", elfHeader(2, 1, 2, 62)),
		"arm64":   write("arm64", elfHeader(2, 1, 2, 183)),
		"armv7":   write("armv7", elfHeader(1, 1, 2, 40)),
		"riscv64": write("riscv64", elfHeader(2, 1, 3, 243)), // a PIE
		"386":     write("386", elfHeader(1, 1, 2, 3)),
	}
	for arch := range files {
		for other, otherPath := range files {
			err := CheckExecutable(otherPath, arch)
			if other == arch && err != nil {
				t.Errorf("a %s executable on %s: %v", other, arch, err)
			}
			if other != arch && (err == nil || !strings.Contains(err.Error(), "built for")) {
				t.Errorf("a %s executable on %s: %v, want refused", other, arch, err)
			}
		}
	}
	for name, c := range map[string]struct {
		h    []byte
		want string
	}{
		"relocatable object": {elfHeader(2, 1, 1, 62), "not an executable"},
		"riscv32":            {elfHeader(1, 1, 2, 243), "built for riscv32"},
		"big-endian mips":    {elfHeader(1, 2, 2, 8), "built for mips"},
		"unknown machine":    {elfHeader(2, 1, 2, 9999), "ELF machine 9999"},
		"truncated":          {[]byte("\x7fELF\x02\x01"), "not an ELF"},
	} {
		err := CheckExecutable(write(name, c.h), "amd64")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}
