// Package agent replaces beamupd's own binary: it names the arch a binary
// runs on, tries a new binary under a small service manager of its own
// before it is kept, and swaps the executable durably.
package agent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
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
				return "armv" + strings.Split(s.Value, ",")[0] // "7,softfloat"
			}
		}
	}
	return "armv7"
}

// machines maps the ELF header's e_machine to the GOARCH that builds for
// it. The header is read here rather than through debug/elf, which would
// link in DWARF and the section decompressors: a tenth of a megabyte that
// a device with little flash has no use for.
var machines = map[uint16]string{
	62: "amd64", 183: "arm64", 40: "arm", 3: "386", 243: "riscv64", 8: "mips",
}

// CheckExecutable tells whether the file at path is a Linux executable for
// arch, whatever its manifest said: a mislabelled binary must not replace a
// working one.
func CheckExecutable(path, arch string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("reading the agent payload: %w", err)
	}
	defer f.Close()
	// e_ident (magic, class, byte order, ...), then e_type and e_machine:
	// the same offsets in 32- and 64-bit files.
	var h [20]byte
	if _, err := io.ReadFull(f, h[:]); err != nil || string(h[:4]) != "\x7fELF" {
		return errors.New("agent payload is not an ELF executable")
	}
	var order binary.ByteOrder = binary.LittleEndian
	if h[5] == 2 { // ELFDATA2MSB
		order = binary.BigEndian
	}
	typ, machine := order.Uint16(h[16:]), order.Uint16(h[18:])
	if typ != 2 && typ != 3 { // ET_EXEC, ET_DYN
		return fmt.Errorf("agent payload is an ELF file of type %d, not an executable", typ)
	}
	got, ok := machines[machine]
	if !ok {
		return fmt.Errorf("agent payload is built for ELF machine %d, this device is %s", machine, arch)
	}
	if got == "riscv64" && h[4] == 1 { // ELFCLASS32
		got = "riscv32"
	}
	want := arch
	if strings.HasPrefix(arch, "armv") {
		want = "arm" // the ELF machine does not say the GOARM level
	}
	if got != want {
		return fmt.Errorf("agent payload is built for %s, this device is %s", got, arch)
	}
	return nil
}
