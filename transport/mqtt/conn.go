package mqtt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Options say how to reach the broker.
type Options struct {
	Broker       string // mqtt://host:1883 or mqtts://host:8883
	ClientID     string
	CAFile       string
	CertFile     string
	KeyFile      string
	Username     string
	PasswordFile string
	// Will, when set, is published retained on Topic by the broker if the
	// client goes away without disconnecting.
	WillTopic   string
	WillPayload []byte
	// OnConnect runs after every (re)connection, for subscriptions.
	OnConnect func(paho.Client)
	// Reconnect reconnects with backoff after a lost connection, for the
	// daemon. The first connection is never retried here: the caller
	// decides, and sees why it failed.
	Reconnect bool
	// OnLost is told why a connection was lost.
	OnLost func(error)
}

// Connect connects to the broker and waits for the connection.
func Connect(ctx context.Context, o Options) (paho.Client, error) {
	addr, tc, err := brokerAddr(o)
	if err != nil {
		return nil, err
	}
	opts := paho.NewClientOptions()
	if tc == nil {
		opts.AddBroker("tcp://" + addr)
	} else {
		opts.AddBroker("ssl://" + addr)
		opts.SetTLSConfig(tc)
	}
	opts.SetClientID(o.ClientID)
	opts.SetCleanSession(true)
	opts.SetOrderMatters(false) // handlers must not block the client's router
	// A message still on its way when its topic was unsubscribed (a chunk
	// of a download given up) is acknowledged and dropped: paho leaves a
	// message without a handler unacknowledged, and a broker sends nothing
	// more to a client with its in-flight window full of them.
	opts.SetDefaultPublishHandler(func(paho.Client, paho.Message) {})
	opts.SetKeepAlive(30 * time.Second)
	opts.SetConnectTimeout(10 * time.Second)
	if o.Username != "" {
		pw, err := password(o)
		if err != nil {
			return nil, err
		}
		opts.SetUsername(o.Username)
		opts.SetPassword(pw)
	}
	if o.WillTopic != "" {
		opts.SetBinaryWill(o.WillTopic, o.WillPayload, 1, true)
	}
	if o.OnConnect != nil {
		opts.SetOnConnectHandler(o.OnConnect)
	}
	if o.OnLost != nil {
		opts.SetConnectionLostHandler(func(_ paho.Client, err error) { o.OnLost(err) })
	}
	opts.SetAutoReconnect(o.Reconnect)
	opts.SetMaxReconnectInterval(30 * time.Second)
	c := paho.NewClient(opts)
	if err := wait(ctx, c.Connect()); err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", o.Broker, err)
	}
	return c, nil
}

// brokerAddr is the host:port of o's broker and, for mqtts, its TLS
// configuration (nil for mqtt).
func brokerAddr(o Options) (string, *tls.Config, error) {
	u, err := url.Parse(o.Broker)
	if err != nil || u.Host == "" {
		return "", nil, fmt.Errorf("broker %q: want mqtt://host:port or mqtts://host:port", o.Broker)
	}
	switch u.Scheme {
	case "mqtt", "tcp":
		return u.Host, nil, nil
	case "mqtts", "ssl", "tls":
		tc, err := tlsConfig(o)
		return u.Host, tc, err
	}
	return "", nil, fmt.Errorf("broker %q: scheme must be mqtt or mqtts", o.Broker)
}

// password reads o's password file, if any.
func password(o Options) (string, error) {
	if o.PasswordFile == "" {
		return "", nil
	}
	pw, err := os.ReadFile(o.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("reading MQTT password: %w", err)
	}
	return strings.TrimRight(string(pw), "\r\n"), nil
}

func tlsConfig(o Options) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading MQTT CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("MQTT CA file %s holds no PEM certificate", o.CAFile)
		}
		tc.RootCAs = pool
	}
	if o.CertFile != "" || o.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("reading MQTT client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// wait waits for a paho token and honours ctx.
func wait(ctx context.Context, tok paho.Token) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errTimeout is a retained message that did not arrive in time.
var errTimeout = errors.New("no retained message")

// publish publishes and waits for the broker's acknowledgement.
func publish(ctx context.Context, c paho.Client, topic string, retained bool, payload []byte) error {
	if err := wait(ctx, c.Publish(topic, 1, retained, payload)); err != nil {
		return fmt.Errorf("publishing %s: %w", topic, err)
	}
	return nil
}
