// Package mqtt carries bundles and device status over an MQTT 3.1.1 broker
// (any compliant one; QoS 1, retained messages): the device side fetches
// and installs what its targets name, the host side publishes.
package mqtt

import "fmt"

// Topics are the topic names under a prefix (default "beamup").
type Topics struct {
	Prefix string
}

func (t Topics) Offer(bundle string) string {
	return fmt.Sprintf("%s/bundles/%s/offer", t.Prefix, bundle)
}
func (t Topics) Chunk(bundle string, n int) string {
	return fmt.Sprintf("%s/bundles/%s/chunks/%d", t.Prefix, bundle, n)
}
func (t Topics) GroupTarget(group string) string { return t.Prefix + "/targets/" + group }
func (t Topics) DeviceTarget(device string) string {
	return t.Prefix + "/devices/" + device + "/target"
}
func (t Topics) Status(device string) string { return t.Prefix + "/devices/" + device + "/status" }
func (t Topics) Events(device string) string { return t.Prefix + "/devices/" + device + "/events" }

// Offer is the retained message that describes a bundle.
type Offer struct {
	Manifest  string `json:"manifest"`
	Signature string `json:"signature"`
}
