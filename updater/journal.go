package updater

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/beamup/beamup/internal/durable"
	"github.com/beamup/beamup/plan"
	"github.com/beamup/beamup/report"
)

// Kinds of operation.
const (
	KindInstall    = "install"
	KindRollback   = "rollback"
	KindSelfUpdate = "self-update"
)

// journalFormat is the version of the journal record. Format 1 named two
// steps for what had happened (copied, unpacked); package plan reads them.
const journalFormat = 2

// Journal is the device's record of the operation under way and of the
// last one that ended.
type Journal struct {
	Format int            `json:"format"`
	Op     *Operation     `json:"operation,omitempty"`
	Last   *report.Result `json:"last_result,omitempty"`
}

// Operation is an install or rollback under way.
type Operation struct {
	Kind            string    `json:"kind"` // install, rollback or self-update
	Bundle          string    `json:"bundle,omitempty"`
	Name            string    `json:"name"`
	Version         string    `json:"version"`
	From            string    `json:"from,omitempty"`
	FromERTS        string    `json:"from_erts,omitempty"` // cold: the boot points back at From on it
	Mode            string    `json:"mode,omitempty"`
	UpgradeFrom     []string  `json:"upgrade_from,omitempty"`
	Downgrade       bool      `json:"downgrade,omitempty"`
	MakeRelup       bool      `json:"make_relup,omitempty"` // the node makes the relup from the appups
	SecurityVersion int       `json:"security_version"`
	SHA256          string    `json:"sha256,omitempty"` // the payload's
	Step            plan.Step `json:"step"`
	Reason          string    `json:"reason,omitempty"`
	Note            string    `json:"note,omitempty"` // what commit did besides
	NodePid         string    `json:"node_pid,omitempty"`
	NodeBoot        string    `json:"node_boot,omitempty"` // Incarnation before install_release
	Resumes         int       `json:"resumes"`
	Started         time.Time `json:"started"`
	// Received is when the bundle's last byte had arrived and verified.
	Received time.Time `json:"received,omitzero"`
	Updated  time.Time `json:"updated"`
}

// JournalStore keeps journal.json in the state directory.
type JournalStore struct {
	path string
}

func NewJournalStore(stateDir string) *JournalStore {
	return &JournalStore{path: filepath.Join(stateDir, "journal.json")}
}

// Load reads the journal; a missing journal is an empty one.
func (s *JournalStore) Load() (*Journal, error) {
	data, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return &Journal{Format: journalFormat}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading journal: %w", err)
	}
	j := &Journal{}
	if err := json.Unmarshal(data, j); err != nil {
		return nil, fmt.Errorf("reading journal %s: %w", s.path, err)
	}
	if err := migrate(j); err != nil {
		return nil, fmt.Errorf("reading journal %s: %w", s.path, err)
	}
	return j, nil
}

// migrate brings an older journal record up to journalFormat.
func migrate(j *Journal) error {
	switch j.Format {
	case 1, journalFormat:
		return nil
	default:
		return fmt.Errorf("journal format %d is newer than this beamupd understands (%d)", j.Format, journalFormat)
	}
}

// Save writes the journal durably.
func (s *JournalStore) Save(j *Journal) error {
	data, err := encode(j)
	if err != nil {
		return err
	}
	return s.write(data)
}

// encode is the record of j as Save writes it.
func encode(j *Journal) ([]byte, error) {
	j.Format = journalFormat
	if j.Op != nil {
		j.Op.Updated = time.Now().UTC()
	}
	data, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// write replaces the journal with an encoded record, durably.
func (s *JournalStore) write(data []byte) error { return durable.WriteFile(s.path, data, 0o644) }
