package bundle

import (
	"fmt"
	"os"
	"strings"

	"aead.dev/minisign"
)

// LoadPublicKeys reads minisign public keys. Several keys may be trusted at
// once, so that a signing key can be rotated.
func LoadPublicKeys(paths []string) ([]minisign.PublicKey, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("no trusted public key configured")
	}
	var keys []minisign.PublicKey
	for _, p := range paths {
		k, err := minisign.PublicKeyFromFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading public key %s: %w", p, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// LoadSecretKey reads a minisign secret key, decrypting it with password
// when it is encrypted.
func LoadSecretKey(path, password string) (minisign.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return minisign.PrivateKey{}, fmt.Errorf("reading secret key: %w", err)
	}
	if minisign.IsEncrypted(data) {
		if password == "" {
			return minisign.PrivateKey{}, fmt.Errorf("secret key %s is encrypted: give --password-file or BEAMUP_KEY_PASSWORD", path)
		}
		k, err := minisign.DecryptKey(strings.TrimRight(password, "\r\n"), data)
		if err != nil {
			return minisign.PrivateKey{}, fmt.Errorf("decrypting secret key %s: %w", path, err)
		}
		return k, nil
	}
	var k minisign.PrivateKey
	if err := k.UnmarshalText(data); err != nil {
		return minisign.PrivateKey{}, fmt.Errorf("reading secret key %s: %w", path, err)
	}
	return k, nil
}
