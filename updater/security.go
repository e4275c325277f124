package updater

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/beamup/beamup/internal/durable"
)

// SecurityStore keeps security.json: the highest security_version ever
// committed for each name. A bundle below it is refused (anti-rollback).
type SecurityStore struct {
	path string
}

func NewSecurityStore(stateDir string) *SecurityStore {
	return &SecurityStore{path: filepath.Join(stateDir, "security.json")}
}

func (s *SecurityStore) load() (map[string]int, error) {
	m := map[string]int{}
	data, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.path, err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.path, err)
	}
	return m, nil
}

// Floor is the lowest security_version still accepted for name.
func (s *SecurityStore) Floor(name string) (int, error) {
	m, err := s.load()
	return m[name], err
}

// Commit raises the floor for name to v; it never lowers it.
func (s *SecurityStore) Commit(name string, v int) error {
	m, err := s.load()
	if err != nil {
		return err
	}
	if v <= m[name] {
		return nil
	}
	m[name] = v
	data, _ := json.MarshalIndent(m, "", "  ")
	return durable.WriteFile(s.path, append(data, '\n'), 0o644)
}
