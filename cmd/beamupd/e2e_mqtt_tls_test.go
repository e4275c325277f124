package main_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/beamup/beamup/internal/brokertest"
	"github.com/beamup/beamup/internal/otptest"
)

// pki writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all signed by the CA, as PEM files in dir.
func pki(t *testing.T, dir string) (ca, serverCert, serverKey, clientCert, clientKey string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "beamup test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	issue := func(name string, serial int64, usage x509.ExtKeyUsage, ips []net.IP) (string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips, KeyUsage: x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, _ := x509.MarshalECPrivateKey(key)
		return writePEM(t, dir, name+".crt", "CERTIFICATE", der), writePEM(t, dir, name+".key", "EC PRIVATE KEY", keyDER)
	}
	ca = writePEM(t, dir, "ca.crt", "CERTIFICATE", caDER)
	serverCert, serverKey = issue("server", 2, x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")})
	clientCert, clientKey = issue("device", 3, x509.ExtKeyUsageClientAuth, nil)
	return
}

func writePEM(t *testing.T, dir, name, kind string, der []byte) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Over TLS with client certificates the upgrade works; a device without a
// valid certificate is refused by the broker and says so.
func TestMQTTOverTLSWithClientCertificates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, sc, sk, cc, ck := pki(t, dir)
	broker := brokertest.Start(t, &brokertest.TLS{CAFile: ca, CertFile: sc, KeyFile: sk})
	url := broker.URL("mqtts")
	tlsSection := func(cert, key string) string {
		s := mqttSection(url) + fmt.Sprintf("ca_file = %q\n", ca)
		if cert != "" {
			s += fmt.Sprintf("cert_file = %q\nkey_file = %q\n", cert, key)
		}
		return s
	}
	good := newDevice(t, "1.0.0", deviceOpts{mqtt: tlsSection(cc, ck)})
	refused := newDevice(t, "1.0.0", deviceOpts{mqtt: tlsSection("", "")})
	dg := good.run()
	dr := refused.run()

	_, beamup := bins(t)
	run(t, beamup, "publish", "--broker", url, "--key", filepath.Join(keyDir, "release.key"), "--ca-file", ca, "--cert-file", cc, "--key-file", ck,
		"--group", "all", signed(t, "1.1.0"))
	waitStatusTLS(t, good, dg, url, ca, cc, ck)
	direct(t, dg)

	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(dr.log(), "mqtt: connecting to "+url) || !strings.Contains(dr.log(), "retrying") {
		if time.Now().After(deadline) {
			t.Fatalf("the device without a certificate did not say why it cannot connect:\n%s", dr.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if v := refused.runningApp(); v != "1.0.0" {
		t.Errorf("the refused device runs gauge %s", v)
	}
	// A publisher without a certificate is refused too, with exit 1.
	out, err := execOut(beamup, "publish", "--broker", url, "--key", filepath.Join(keyDir, "release.key"), "--ca-file", ca, "--group", "all", signed(t, "1.1.0"))
	if err == nil || !strings.Contains(out, "connecting to "+url) {
		t.Errorf("publish without a client certificate: %v\n%s", err, out)
	}
}

// waitStatusTLS waits for the device to commit 1.1.0, reading its status
// over TLS with beamup status.
func waitStatusTLS(t *testing.T, d *device, dm *daemon, url, ca, cert, key string) {
	t.Helper()
	_, beamup := bins(t)
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, _ := execOut(beamup, "status", "--broker", url, "--ca-file", ca, "--cert-file", cert, "--key-file", key,
			"--device", d.id, "--json")
		if strings.Contains(out, `"state":"committed"`) && strings.Contains(out, `"version":"1.1.0"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no committed status over TLS; last %s\ndaemon log:\n%s", out, dm.log())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// The same upgrade through a second, independent broker implementation
// (mochi-mqtt, embedded here): nothing depends on mosquitto.
func TestMQTTWithAnotherBroker(t *testing.T) {
	t.Parallel()
	server := mochi.New(&mochi.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := server.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", otptest.FreePort(t))
	if err := server.AddListener(listeners.NewTCP(listeners.Config{ID: "test", Address: addr})); err != nil {
		t.Fatal(err)
	}
	go server.Serve()
	t.Cleanup(func() { server.Close() })
	url := "mqtt://" + addr

	d := newDevice(t, "1.0.0", deviceOpts{mqtt: mqttSection(url, "line2")})
	dm := d.run()
	publishBundle(t, url, signed(t, "1.1.0", "--chunk-size", "131072"), "--group", "line2")
	waitStatus(t, url, d.id, dm, committedOn("1.1.0"))
	if v := d.runningApp(); v != "1.1.0" {
		t.Errorf("gauge %s runs, want 1.1.0", v)
	}
	direct(t, dm)
}
