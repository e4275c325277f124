package report

import "time"

// Event is one line of what an operation does, as every reporter gets it:
// the log, the MQTT events topic, the serial console, systemd's STATUS.
type Event struct {
	At      time.Time `json:"at"`
	Kind    string    `json:"kind,omitempty"` // install, rollback or self-update
	Bundle  string    `json:"bundle,omitempty"`
	Version string    `json:"version,omitempty"`
	Step    string    `json:"step,omitempty"` // the journaled step, when one is under way
	Message string    `json:"message"`
}
