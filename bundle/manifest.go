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
	Format          int       `json:"format"`
	Kind            string    `json:"kind"`
	Name            string    `json:"name"`
	Version         string    `json:"version"`
	SecurityVersion int       `json:"security_version"`
	Compatible      []string  `json:"compatible,omitempty"`
	Arch            string    `json:"arch,omitempty"`
	Upgrade         *Upgrade  `json:"upgrade,omitempty"`
	Payload         Payload   `json:"payload"`
	Created         time.Time `json:"created"`
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

// ParseManifest reads a format 1 manifest: unknown fields are an error.
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
	if m.Format != 1 {
		return fmt.Errorf("format %d is not supported (want 1)", m.Format)
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
