package delta

import (
	"encoding/json"
	"io/fs"
	"sync"
	"time"
)

// Seen records what the base's files hashed to when a rebuild last read
// them, each under what stat said of it then (size, modification and
// change times, inode), as git's index does. A rebuild checks a file it
// keeps where it is against the record instead of reading it again: such
// files are most of a delta, and on a board without SHA-256 instructions
// hashing them is most of its time after the last byte. A file written
// since has another change time, which no program sets back; one changed
// too close to its reading to tell is not recorded (see note).
//
// The zero Seen, and a nil one, record nothing.
type Seen struct {
	mu  sync.Mutex
	was map[string]seenFile // as the last rebuild left them
	now map[string]seenFile // what this rebuild confirmed
}

type seenFile struct {
	Stat   fileStat `json:"stat"`
	SHA256 string   `json:"sha256"`
}

// fileStat is what stat says of a file that changes when it is written.
type fileStat struct {
	Size  int64  `json:"size"`
	MTime int64  `json:"mtime_ns"`
	CTime int64  `json:"ctime_ns"`
	Ino   uint64 `json:"ino"`
	Dev   uint64 `json:"dev"`
}

// ReadSeen reads a record that Marshal wrote. A record it cannot read is
// an empty one: the files are hashed again, which is never wrong.
func ReadSeen(data []byte) *Seen {
	s := &Seen{}
	if json.Unmarshal(data, &s.was) != nil {
		s.was = nil
	}
	return s
}

// Marshal gives the record of the files this rebuild confirmed, by
// record or by reading them; the others are dropped.
func (s *Seen) Marshal() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return json.Marshal(s.now)
}

// Len is how many files the rebuild confirmed.
func (s *Seen) Len() int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.now)
}

// matches reports whether the record holds the base file at path, as fi
// says it is, with hash sum.
func (s *Seen) matches(path string, fi fs.FileInfo, sum string) bool {
	if s == nil {
		return false
	}
	st, ok := statOf(fi)
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.was[path]
	if !ok || f.Stat != st || f.SHA256 != sum {
		return false
	}
	s.put(path, f)
	return true
}

// racy is how long before its reading a file's last change must be for
// the record to trust its stat: the kernel stamps changes with a clock
// that ticks every few milliseconds, and a file written again within the
// tick it was read in would keep its times.
const racy = time.Second

// note records that the base file at path, as fi said it was before it
// was read at the time at, hashed to sum.
func (s *Seen) note(path string, fi fs.FileInfo, sum string, at time.Time) {
	if s == nil {
		return
	}
	st, ok := statOf(fi)
	if !ok || time.Unix(0, st.CTime).After(at.Add(-racy)) || time.Unix(0, st.MTime).After(at.Add(-racy)) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.put(path, seenFile{st, sum})
}

func (s *Seen) put(path string, f seenFile) {
	if s.now == nil {
		s.now = map[string]seenFile{}
	}
	s.now[path] = f
}
