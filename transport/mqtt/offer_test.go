package mqtt

import (
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/beamup/beamup/bundle"
)

// Whatever a broker delivers as an offer, OpenOffer refuses it, or
// returns a manifest that the trusted key signed and whose id is the one
// asked for.
func FuzzOpenOffer(f *testing.F) {
	pub, priv, _ := minisign.GenerateKey(rand.Reader)
	m := &bundle.Manifest{Format: 1, Kind: bundle.KindRelease, Name: "gauge", Version: "1.1.0",
		Payload: bundle.Payload{Path: "gauge-1.1.0.tar.gz", Size: 1, ChunkSize: 1, SHA256: hex64, Chunks: []string{hex64}},
		Created: time.Now().UTC().Truncate(time.Second)}
	raw, _ := json.Marshal(m)
	id := bundle.ID(raw)
	good, _ := json.Marshal(Offer{Manifest: string(raw), Signature: string(bundle.SignManifest(priv, raw, "gauge 1.1.0"))})
	f.Add(good)
	f.Add([]byte(`{"manifest":"{}","signature":""}`))
	f.Add([]byte("\x00garbage{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := OpenOffer(id, data, []minisign.PublicKey{pub})
		if err == nil && (h.ID() != id || !minisign.Verify(pub, h.Raw, h.Signature)) {
			t.Fatalf("accepted an offer of bundle %s", h.ID())
		}
	})
}

const hex64 = "0000000000000000000000000000000000000000000000000000000000000000"
