package mqtt

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"aead.dev/minisign"

	"github.com/beamup/beamup/internal/durable"
)

// TargetMessage is the retained message on a target topic: a target
// document and its minisign signature, as the offer carries a manifest.
// An empty message clears the target.
type TargetMessage struct {
	Target    string `json:"target"`    // the TargetDoc's JSON text, as signed
	Signature string `json:"signature"` // minisign signature of Target
}

// TargetDoc names the bundle a group or a device should run. Sequence
// only grows for a scope: a device refuses a lower one, so that an old
// target replayed on the broker cannot take it back; Expires bounds how
// long a target that is never replaced stays good.
type TargetDoc struct {
	Bundle   string    `json:"bundle"`
	Scope    string    `json:"scope"` // "group:NAME" or "device:ID"
	Sequence int64     `json:"sequence"`
	Expires  time.Time `json:"expires"`
}

// GroupScope and DeviceScope are the scopes of the two kinds of target.
func GroupScope(group string) string { return "group:" + group }
func DeviceScope(id string) string   { return "device:" + id }

// SignTarget makes the retained message for doc, signed with key.
func SignTarget(key minisign.PrivateKey, doc TargetDoc) ([]byte, error) {
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	sig := minisign.SignWithComments(key, raw, "target "+doc.Scope+" "+doc.Bundle, "")
	return json.Marshal(TargetMessage{Target: string(raw), Signature: string(sig)})
}

// errTarget is a target message refused; its text says why.
var errTarget = errors.New("target refused")

// OpenTarget checks a target message that arrived for scope: signed by
// one of keys, for that scope, not expired at now, naming a bundle id.
func OpenTarget(data []byte, keys []minisign.PublicKey, scope string, now time.Time) (TargetDoc, error) {
	var m TargetMessage
	if err := json.Unmarshal(data, &m); err != nil || m.Target == "" {
		return TargetDoc{}, fmt.Errorf("%w: not a signed target document", errTarget)
	}
	signed := false
	for _, k := range keys {
		if minisign.Verify(k, []byte(m.Target), []byte(m.Signature)) {
			signed = true
			break
		}
	}
	if !signed {
		return TargetDoc{}, fmt.Errorf("%w: not signed by a trusted key", errTarget)
	}
	var doc TargetDoc
	dec := json.NewDecoder(strings.NewReader(m.Target))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return TargetDoc{}, fmt.Errorf("%w: %v", errTarget, err)
	}
	switch {
	case doc.Scope != scope:
		return doc, fmt.Errorf("%w: it is for %s, this topic is %s's", errTarget, doc.Scope, scope)
	case !isID(doc.Bundle):
		return doc, fmt.Errorf("%w: %q is not a bundle id", errTarget, doc.Bundle)
	case !now.Before(doc.Expires):
		return doc, fmt.Errorf("%w: it expired at %s", errTarget, doc.Expires.Format(time.RFC3339))
	}
	return doc, nil
}

// sequences remembers, for each scope, the highest target sequence this
// device accepted and the bundle it named, across restarts: a target
// replayed from the past has a lower sequence.
type sequences struct {
	path string
	m    map[string]seen
}

type seen struct {
	Sequence int64  `json:"sequence"`
	Bundle   string `json:"bundle"`
}

func loadSequences(stateDir string) *sequences {
	s := &sequences{path: filepath.Join(stateDir, "mqtt-targets.json"), m: map[string]seen{}}
	if data, err := os.ReadFile(s.path); err == nil {
		json.Unmarshal(data, &s.m)
	}
	return s
}

// accept records doc unless an accepted target of its scope is newer, or
// as new and names another bundle.
func (s *sequences) accept(doc TargetDoc) error {
	last, ok := s.m[doc.Scope]
	switch {
	case !ok:
	case doc.Sequence < last.Sequence:
		return fmt.Errorf("%w: sequence %d is older than %d, accepted for %s", errTarget, doc.Sequence, last.Sequence, doc.Scope)
	case doc.Sequence == last.Sequence && doc.Bundle != last.Bundle:
		return fmt.Errorf("%w: sequence %d already named bundle %.12s for %s", errTarget, doc.Sequence, last.Bundle, doc.Scope)
	case doc.Sequence == last.Sequence:
		return nil // the same target again (a retained message re-delivered)
	}
	s.m[doc.Scope] = seen{doc.Sequence, doc.Bundle}
	data, _ := json.Marshal(s.m)
	return durable.WriteFile(s.path, data, 0o644)
}
