package updater

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/beamup/beamup/internal/durable"
)

// Step is a journaled step of an operation. The names are stable: they are
// stored in journal.json and read back by newer versions of beamupd.
type Step string

// The steps of an install, in order. Everything before StepInstalling is
// undone by removing what it added; from StepInstalling on the node may run
// new code, and revert means restarting it on the permanent release.
const (
	StepVerified    Step = "verified"     // payload verified in staging
	StepCopied      Step = "copied"       // tarball and .rel in <root>/releases
	StepUnpacking   Step = "unpacking"    // unpack_release under way
	StepUnpacked    Step = "unpacked"     // unpacked and checked
	StepInstalling  Step = "installing"   // point of no return: install_release under way
	StepChecking    Step = "checking"     // installed, health soak under way
	StepCommitting  Step = "committing"   // make_permanent under way
	StepReverting   Step = "reverting"    // failed; restarting on the permanent release
	StepRollingBack Step = "rolling-back" // beamupd rollback under way
)

// The steps of a self-update, in order. Until StepAgentReplacing the
// running executable is untouched; from it on the executable at the agent
// path is either the old or the new one, both complete.
const (
	StepAgentStaged    Step = "agent-staged"    // new beamupd verified in staging
	StepAgentTrying    Step = "agent-trying"    // new beamupd on trial
	StepAgentReplacing Step = "agent-replacing" // previous kept in agent/; executable being replaced
)

// Kinds of operation.
const (
	KindInstall    = "install"
	KindRollback   = "rollback"
	KindSelfUpdate = "self-update"
)

// pastNoReturn says whether a step comes at or after install_release.
func (s Step) pastNoReturn() bool {
	switch s {
	case StepInstalling, StepChecking, StepCommitting, StepRollingBack:
		return true
	}
	return false
}

// journalFormat is the version of the journal record.
const journalFormat = 1

// maxResumes breaks crash loops: an operation picked up after a crash this
// many times is given up and reported as needing attention.
const maxResumes = 5

// Journal is the device's record of the operation under way and of the
// last one that ended.
type Journal struct {
	Format int        `json:"format"`
	Op     *Operation `json:"operation,omitempty"`
	Last   *Result    `json:"last_result,omitempty"`
}

// Operation is an install or rollback under way.
type Operation struct {
	Kind            string    `json:"kind"` // install, rollback or self-update
	Bundle          string    `json:"bundle,omitempty"`
	Name            string    `json:"name"`
	Version         string    `json:"version"`
	From            string    `json:"from,omitempty"`
	Mode            string    `json:"mode,omitempty"`
	UpgradeFrom     []string  `json:"upgrade_from,omitempty"`
	SecurityVersion int       `json:"security_version"`
	SHA256          string    `json:"sha256,omitempty"` // the payload's
	Step            Step      `json:"step"`
	Reason          string    `json:"reason,omitempty"`
	Note            string    `json:"note,omitempty"` // what commit did besides
	NodePid         string    `json:"node_pid,omitempty"`
	NodeBoot        string    `json:"node_boot,omitempty"` // Incarnation before install_release
	Resumes         int       `json:"resumes"`
	Started         time.Time `json:"started"`
	Updated         time.Time `json:"updated"`
}

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
	case journalFormat:
		return nil
	default:
		return fmt.Errorf("journal format %d is newer than this beamupd understands (%d)", j.Format, journalFormat)
	}
}

// Save writes the journal durably.
func (s *JournalStore) Save(j *Journal) error {
	j.Format = journalFormat
	if j.Op != nil {
		j.Op.Updated = time.Now().UTC()
	}
	data, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	return durable.WriteFile(s.path, append(data, '\n'), 0o644)
}
