// Package agent replaces beamupd's own binary: it names the arch a binary
// runs on, tries a new binary under a small service manager of its own
// before it is kept, and swaps the executable durably.
package agent

import (
	"debug/elf"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Arch is the arch of the running beamupd as manifests name it: GOARCH,
// and for 32-bit arm the GOARM level too ("armv7").
func Arch() string {
	if runtime.GOARCH != "arm" {
		return runtime.GOARCH
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "GOARM" {
				return "armv" + strings.TrimSuffix(strings.Split(s.Value, ",")[0], "")
			}
		}
	}
	return "armv7"
}

// machines maps ELF machines to the GOARCH that builds for them.
var machines = map[elf.Machine]string{
	elf.EM_X86_64: "amd64", elf.EM_AARCH64: "arm64", elf.EM_ARM: "arm",
	elf.EM_386: "386", elf.EM_RISCV: "riscv64", elf.EM_MIPS: "mips",
}

// CheckExecutable tells whether the file at path is a Linux executable for
// arch, whatever its manifest said: a mislabelled binary must not replace a
// working one.
func CheckExecutable(path, arch string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("agent payload is not an ELF executable: %w", err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("agent payload is an ELF %s, not an executable", f.Type)
	}
	got, ok := machines[f.Machine]
	if !ok {
		return fmt.Errorf("agent payload is built for %s, this device is %s", f.Machine, arch)
	}
	if got == "riscv64" && f.Class == elf.ELFCLASS32 {
		got = "riscv32"
	}
	if want := strings.SplitN(arch, "v", 2)[0]; got != want {
		return fmt.Errorf("agent payload is built for %s, this device is %s", got, arch)
	}
	return nil
}
