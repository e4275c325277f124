// Package report is how a device says what it is doing and how its
// operations ended: the status that beamupd status prints, MQTT retains
// and the serial console answers, the outcomes with their exit codes, and
// the errors they stand for. The device and the host tool both read it.
package report

import (
	"time"

	"github.com/beamup/beamup/plan"
)

// Status is the device's status, as beamupd status --json prints it and as
// it is published over MQTT.
type Status struct {
	Device       string      `json:"device"`
	Board        string      `json:"board"`
	AgentVersion string      `json:"agent_version"`
	Release      *ReleaseRef `json:"release"`
	State        string      `json:"state"`
	Bundle       string      `json:"bundle,omitempty"`
	Progress     *Progress   `json:"progress,omitempty"`
	LastResult   *LastResult `json:"last_result,omitempty"`
	Updated      time.Time   `json:"updated"`
}

type ReleaseRef struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Status  string `json:"status,omitempty"`
}

type Progress struct {
	Done  int64 `json:"done"`
	Total int64 `json:"total"`
}

type LastResult struct {
	Bundle  string    `json:"bundle,omitempty"`
	Version string    `json:"version"`
	Outcome Outcome   `json:"outcome"`
	Reason  string    `json:"reason,omitempty"`
	At      time.Time `json:"at"`
}

// Underway says whether the status is of an operation under way: its
// state is a step's.
func (s *Status) Underway() bool { return plan.IsState(s.State) }

// Result is how an operation ended.
type Result struct {
	Kind    string    `json:"kind"`
	Bundle  string    `json:"bundle,omitempty"`
	Name    string    `json:"name,omitempty"`
	Version string    `json:"version"`
	Outcome Outcome   `json:"outcome"`
	Reason  string    `json:"reason,omitempty"`
	At      time.Time `json:"at"`
}
