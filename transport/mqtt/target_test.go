package mqtt

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"
)

func TestTargets(t *testing.T) {
	pub, priv, _ := minisign.GenerateKey(rand.Reader)
	_, otherPriv, _ := minisign.GenerateKey(rand.Reader)
	id := strings.Repeat("a", 64)
	now := time.Now()
	doc := TargetDoc{Bundle: id, Scope: GroupScope("line1"), Sequence: 7, Expires: now.Add(time.Hour)}
	msg, err := SignTarget(priv, doc)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := OpenTarget(msg, []minisign.PublicKey{pub}, GroupScope("line1"), now); err != nil || got.Bundle != id {
		t.Fatalf("a good target: %+v, %v", got, err)
	}
	other, _ := SignTarget(otherPriv, doc)
	for _, c := range []struct {
		name  string
		msg   []byte
		scope string
		at    time.Time
		want  string
	}{
		{"unsigned", []byte(`{"bundle":"` + id + `"}`), GroupScope("line1"), now, "not a signed target document"},
		{"other key", other, GroupScope("line1"), now, "not signed by a trusted key"},
		{"other scope", msg, DeviceScope("d1"), now, "it is for group:line1"},
		{"expired", msg, GroupScope("line1"), now.Add(2 * time.Hour), "it expired"},
		{"garbage", []byte("\x00{"), GroupScope("line1"), now, "not a signed target document"},
	} {
		if _, err := OpenTarget(c.msg, []minisign.PublicKey{pub}, c.scope, c.at); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}

	s := loadSequences(t.TempDir())
	if err := s.accept(doc); err != nil {
		t.Fatal(err)
	}
	if err := s.accept(doc); err != nil {
		t.Errorf("the same target again: %v", err)
	}
	older := doc
	older.Sequence = 6
	if err := s.accept(older); err == nil || !strings.Contains(err.Error(), "older than 7") {
		t.Errorf("an older target: %v", err)
	}
	same := doc
	same.Bundle = strings.Repeat("b", 64)
	if err := s.accept(same); err == nil || !strings.Contains(err.Error(), "already named") {
		t.Errorf("another bundle under the same sequence: %v", err)
	}
	// Remembered across restarts.
	if err := loadSequences(s.path[:len(s.path)-len("/mqtt-targets.json")]).accept(older); err == nil {
		t.Error("an older target accepted after a restart")
	}
}

// Whatever a broker delivers on a target topic, OpenTarget refuses it or
// returns a document for the scope, unexpired, naming a bundle id.
func FuzzOpenTarget(f *testing.F) {
	pub, priv, _ := minisign.GenerateKey(rand.Reader)
	msg, _ := SignTarget(priv, TargetDoc{Bundle: strings.Repeat("a", 64), Scope: GroupScope("all"), Sequence: 1, Expires: time.Now().Add(time.Hour)})
	f.Add(msg)
	f.Add([]byte(`{"target":"{}","signature":""}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := OpenTarget(data, []minisign.PublicKey{pub}, GroupScope("all"), time.Now())
		if err == nil && (doc.Scope != GroupScope("all") || !isID(doc.Bundle)) {
			t.Fatalf("accepted %+v", doc)
		}
	})
}
