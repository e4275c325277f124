package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/beamup/beamup/internal/cli"
	"github.com/beamup/beamup/transport/mqtt"
)

// brokerFlags are the flags every fleet command shares.
type brokerFlags struct {
	broker, prefix            string
	caFile, certFile, keyFile string
	username, passwordFile    string
}

func addBrokerFlags(fs *flag.FlagSet) *brokerFlags {
	b := &brokerFlags{}
	fs.StringVar(&b.broker, "broker", "", "mqtt://host:1883 or mqtts://host:8883")
	fs.StringVar(&b.prefix, "topic-prefix", "beamup", "topic prefix")
	fs.StringVar(&b.caFile, "ca-file", "", "CA certificate of the broker (mqtts)")
	fs.StringVar(&b.certFile, "cert-file", "", "client certificate (mqtts)")
	fs.StringVar(&b.keyFile, "key-file", "", "client key (mqtts)")
	fs.StringVar(&b.username, "username", "", "MQTT user name")
	fs.StringVar(&b.passwordFile, "password-file", "", "file holding the MQTT password")
	return b
}

func (b *brokerFlags) connect(ctx context.Context) (paho.Client, mqtt.Topics, error) {
	if b.broker == "" {
		return nil, mqtt.Topics{}, cli.Usage("--broker is required")
	}
	c, err := mqtt.Connect(ctx, mqtt.Options{Broker: b.broker, ClientID: fmt.Sprintf("beamup-%d", os.Getpid()),
		CAFile: b.caFile, CertFile: b.certFile, KeyFile: b.keyFile, Username: b.username, PasswordFile: b.passwordFile})
	return c, mqtt.Topics{Prefix: b.prefix}, err
}

// with connects, runs f and disconnects.
func (b *brokerFlags) with(ctx context.Context, f func(paho.Client, mqtt.Topics) error) error {
	c, t, err := b.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Disconnect(250)
	return f(c, t)
}

// targetTopic is the topic of --group G or --device ID.
func targetTopic(t mqtt.Topics, group, device string) (string, error) {
	switch {
	case (group == "") == (device == ""):
		return "", cli.Usage("give exactly one of --group or --device")
	case device != "":
		return t.DeviceTarget(device), nil
	}
	return t.GroupTarget(group), nil
}
