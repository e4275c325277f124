package board_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/beamup/beamup/board"
)

func TestIdentity(t *testing.T) {
	for name, c := range map[string]struct {
		files       map[string]string
		id, boardID string
	}{
		"machine-id wins": {map[string]string{
			"etc/machine-id":                 "0123456789abcdef0123456789abcdef\n",
			"proc/device-tree/serial-number": "100000003c2a9f1e\x00",
		}, "0123456789abcdef0123456789abcdef", ""},
		"device tree": {map[string]string{
			"proc/device-tree/serial-number": "100000003c2a9f1e\x00",
			"proc/device-tree/compatible":    "raspberrypi,4-model-b\x00brcm,bcm2711\x00",
		}, "100000003c2a9f1e", "raspberrypi,4-model-b"},
		"sysfs device tree": {map[string]string{
			"sys/firmware/devicetree/base/serial-number": "ABC123\x00",
			"sys/firmware/devicetree/base/compatible":    "ti,am335x-bone-black\x00ti,am33xx\x00",
		}, "ABC123", "ti,am335x-bone-black"},
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			for p, content := range c.files {
				os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755)
				os.WriteFile(filepath.Join(root, p), []byte(content), 0o644)
			}
			id, err := board.DeviceID(root)
			if err != nil || id != c.id {
				t.Errorf("DeviceID = %q, %v; want %q", id, err, c.id)
			}
			if b := board.BoardID(root); b != c.boardID {
				t.Errorf("BoardID = %q, want %q", b, c.boardID)
			}
		})
	}
	if _, err := board.DeviceID(t.TempDir()); err == nil {
		t.Error("DeviceID of a board with neither machine-id nor serial: no error")
	}
}
