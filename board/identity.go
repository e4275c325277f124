package board

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// DeviceID is the device's id when the configuration names none: the
// systemd machine id, or else the serial number that the device tree of
// many ARM boards carries. root is "/" on a device.
func DeviceID(root string) (string, error) {
	for _, p := range []string{"etc/machine-id", "proc/device-tree/serial-number", "sys/firmware/devicetree/base/serial-number"} {
		if v := readString(filepath.Join(root, p)); v != "" {
			return v, nil
		}
	}
	return "", errors.New("no device id: set [device] id, or provide /etc/machine-id or a device tree serial-number")
}

// BoardID is the board's id when the configuration names none: the most
// specific entry of the device tree's compatible list (such as
// "raspberrypi,4-model-b"), or "" on boards without a device tree.
func BoardID(root string) string {
	for _, p := range []string{"proc/device-tree/compatible", "sys/firmware/devicetree/base/compatible"} {
		if v := readString(filepath.Join(root, p)); v != "" {
			return v
		}
	}
	return ""
}

// readString reads a one-line file or the first of a device tree
// property's NUL-separated strings.
func readString(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	first, _, _ := bytes.Cut(data, []byte{0})
	return strings.TrimSpace(string(first))
}
