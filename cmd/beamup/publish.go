package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/beamup/beamup/internal/cli"
	"github.com/beamup/beamup/transport/mqtt"
)

func publishCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("beamup publish", flag.ContinueOnError)
	b := addBrokerFlags(fs)
	group := fs.String("group", "", "target group: all, a board id, or a named group")
	device := fs.String("device", "", "target one device")
	key := fs.String("key", "", "secret key that signs the target (devices trust it in [trust] target_keys, default the release keys)")
	pwFile := fs.String("key-password-file", "", "password of an encrypted --key (or BEAMUP_KEY_PASSWORD)")
	seq := fs.Int64("sequence", 0, "the target's sequence, which devices only let grow (default: the time in milliseconds)")
	expires := fs.Duration("expires", 90*24*time.Hour, "how long the target stays good if nothing replaces it")
	return &ffcli.Command{
		Name:       "publish",
		ShortUsage: "beamup publish --broker URL [--topic-prefix P] --key KEY (--group G | --device ID) [--sequence N] [--expires D] BUNDLE",
		ShortHelp:  "upload a bundle to the broker and point a signed target at it",
		FlagSet:    fs,
		Exec: func(ctx context.Context, args []string) error {
			if len(args) != 1 || *key == "" {
				return cli.Usage("publish needs --key and one bundle")
			}
			sk, err := secretKey(*key, *pwFile)
			if err != nil {
				return err
			}
			if *seq == 0 {
				*seq = time.Now().UnixMilli()
			}
			return b.with(ctx, func(c paho.Client, t mqtt.Topics) error {
				topic, err := targetTopic(t, *group, *device)
				if err != nil {
					return err
				}
				scope := mqtt.GroupScope(*group)
				if *device != "" {
					scope = mqtt.DeviceScope(*device)
				}
				sign := func(id string) ([]byte, error) {
					return mqtt.SignTarget(sk, mqtt.TargetDoc{Bundle: id, Scope: scope, Sequence: *seq,
						Expires: time.Now().Add(*expires).UTC().Truncate(time.Second)})
				}
				var progress func(done, total int64)
				if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
					var bar *progressbar.ProgressBar
					progress = func(done, total int64) {
						if bar == nil {
							bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(stderr),
								progressbar.OptionShowBytes(true), progressbar.OptionSetDescription("publishing"),
								progressbar.OptionClearOnFinish())
						}
						bar.Set64(done)
					}
				}
				id, err := mqtt.Publish(ctx, c, t, args[0], topic, sign, progress)
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "published bundle %s to %s\n", id, topic)
				return nil
			})
		},
	}
}

func retractCommand(stdout io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("beamup retract", flag.ContinueOnError)
	b := addBrokerFlags(fs)
	group := fs.String("group", "", "target group")
	device := fs.String("device", "", "one device")
	purge := fs.Bool("purge", false, "also remove the bundle's offer and chunks")
	return &ffcli.Command{
		Name:       "retract",
		ShortUsage: "beamup retract --broker URL [--topic-prefix P] (--group G | --device ID) [--purge]",
		ShortHelp:  "clear a target; --purge also the bundle it named",
		FlagSet:    fs,
		Exec: func(ctx context.Context, args []string) error {
			return b.with(ctx, func(c paho.Client, t mqtt.Topics) error {
				topic, err := targetTopic(t, *group, *device)
				if err != nil {
					return err
				}
				id, err := mqtt.Retract(ctx, c, t, topic, *purge)
				if err != nil {
					return err
				}
				switch {
				case id == "":
					fmt.Fprintf(stdout, "cleared %s (it named no bundle)\n", topic)
				case *purge:
					fmt.Fprintf(stdout, "cleared %s and purged bundle %s\n", topic, id)
				default:
					fmt.Fprintf(stdout, "cleared %s (was bundle %s)\n", topic, id)
				}
				return nil
			})
		},
	}
}
