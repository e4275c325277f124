package bundle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"time"
)

// Kinds of bundle payload.
const (
	KindRelease = "release"
	KindAgent   = "agent"
)

// Manifest describes a bundle. Its exact bytes are what the signature
// covers.
type Manifest struct {
	Format          int      `json:"format"`
	Kind            string   `json:"kind"`
	Name            string   `json:"name"`
	Version         string   `json:"version"`
	SecurityVersion int      `json:"security_version"`
	Compatible      []string `json:"compatible,omitempty"`
	Arch            string   `json:"arch,omitempty"`
	Upgrade         *Upgrade `json:"upgrade,omitempty"`
	Payload         Payload  `json:"payload"`
	// Delta makes the payload a delta against a base release (format 2).
	Delta   *Delta    `json:"delta,omitempty"`
	Created time.Time `json:"created"`
}

// Delta says that the payload rebuilds the release from a base release
// the device has installed (package delta). The payload's first member
// lists every file of the result with its size and SHA-256.
type Delta struct {
	Base string `json:"base"` // the base release's version
	// Files and Size count the regular files of the rebuilt release and
	// their bytes: what the device needs room for.
	Files int   `json:"files"`
	Size  int64 `json:"size"`
}

// Upgrade says which running versions a release bundle upgrades and how.
type Upgrade struct {
	From []string `json:"from"`
	Mode string   `json:"mode"` // auto, hot or cold
	// Downgrade says the release may replace a newer one: signed, so
	// that an old bundle cannot take a device back unless it was made to.
	Downgrade bool `json:"downgrade,omitempty"`
}

// Payload names the bundle's third entry and how to check it.
type Payload struct {
	Path      string   `json:"path"`
	Size      int64    `json:"size"`
	SHA256    string   `json:"sha256"`
	ChunkSize int64    `json:"chunk_size"`
	Chunks    []string `json:"chunks"`
}

// MaxManifestSize is the largest manifest.json a bundle may carry.
const MaxManifestSize = 1 << 20

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ParseManifest reads a format 1 or 2 manifest: unknown fields are an
// error. Format 2 is format 1 with a delta.
func ParseManifest(data []byte) (*Manifest, error) {
	if len(data) > MaxManifestSize {
		return nil, fmt.Errorf("manifest is %d bytes, more than %d", len(data), MaxManifestSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	m := &Manifest{}
	if err := dec.Decode(m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return m, nil
}

func (m *Manifest) validate() error {
	switch {
	case m.Format == 1 && m.Delta != nil:
		return fmt.Errorf("a delta needs format 2")
	case m.Format == 2 && (m.Delta == nil || m.Kind != KindRelease):
		return fmt.Errorf("format 2 is a release delta, and this is none")
	case m.Format == 2 && (m.Delta.Base == "" || m.Delta.Files <= 0 || m.Delta.Size < 0):
		return fmt.Errorf("delta needs its base, files and size")
	case m.Format != 1 && m.Format != 2:
		return fmt.Errorf("format %d is not supported (want 1 or 2)", m.Format)
	}
	switch m.Kind {
	case KindRelease:
		if m.Upgrade != nil {
			switch m.Upgrade.Mode {
			case "", "auto", "hot", "cold":
			default:
				return fmt.Errorf("upgrade mode %q: want auto, hot or cold", m.Upgrade.Mode)
			}
		}
	case KindAgent:
		if m.Arch == "" {
			return fmt.Errorf("agent bundle without arch")
		}
	default:
		return fmt.Errorf("kind %q: want release or agent", m.Kind)
	}
	if m.Name == "" || m.Version == "" {
		return fmt.Errorf("name and version are required")
	}
	if m.SecurityVersion < 0 {
		return fmt.Errorf("security_version %d is negative", m.SecurityVersion)
	}
	p := m.Payload
	if p.Path == "" || p.Size < 0 || p.ChunkSize <= 0 || !hexSHA256.MatchString(p.SHA256) {
		return fmt.Errorf("payload needs path, size, sha256 and a positive chunk_size")
	}
	if want := (p.Size + p.ChunkSize - 1) / p.ChunkSize; int64(len(p.Chunks)) != want {
		return fmt.Errorf("payload of %d bytes in chunks of %d needs %d chunk hashes, has %d",
			p.Size, p.ChunkSize, want, len(p.Chunks))
	}
	for i, c := range p.Chunks {
		if !hexSHA256.MatchString(c) {
			return fmt.Errorf("payload chunk %d: bad sha256 %q", i, c)
		}
	}
	return nil
}

// Mode is the upgrade mode the manifest asks for (auto when unset).
func (m *Manifest) Mode() string {
	if m.Upgrade == nil || m.Upgrade.Mode == "" {
		return "auto"
	}
	return m.Upgrade.Mode
}
