package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/beamup/beamup/report"
	"github.com/beamup/beamup/transport/mqtt"
)

func statusCommand(stdout io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("beamup status", flag.ContinueOnError)
	b := addBrokerFlags(fs)
	device := fs.String("device", "", "one device only")
	asJSON := fs.Bool("json", false, "print status JSON, one object a line")
	watch := fs.Bool("watch", false, "keep printing as statuses change")
	settle := fs.Duration("wait", time.Second, "how long to collect retained statuses")
	return &ffcli.Command{
		Name:       "status",
		ShortUsage: "beamup status --broker URL [--topic-prefix P] [--device ID] [--json] [--watch]",
		ShortHelp:  "the fleet's devices, one line each",
		FlagSet:    fs,
		Exec: func(ctx context.Context, args []string) error {
			return b.with(ctx, func(c paho.Client, t mqtt.Topics) error {
				print := func(s report.Status) {
					if *asJSON {
						json.NewEncoder(stdout).Encode(s)
						return
					}
					fmt.Fprintln(stdout, statusLine(s))
				}
				if *watch {
					return mqtt.WatchStatus(ctx, c, t, *device, print)
				}
				wctx, cancel := context.WithTimeout(ctx, *settle)
				defer cancel()
				seen := map[string]report.Status{}
				mqtt.WatchStatus(wctx, c, t, *device, func(s report.Status) { seen[s.Device] = s })
				var ids []string
				for id := range seen {
					ids = append(ids, id)
				}
				sort.Strings(ids)
				if *asJSON {
					for _, id := range ids {
						print(seen[id])
					}
					return nil
				}
				tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "DEVICE\tBOARD\tRELEASE\tSTATE\tLAST RESULT")
				for _, id := range ids {
					s := seen[id]
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Device, s.Board, release(s), s.State, last(s))
				}
				return tw.Flush()
			})
		},
	}
}

func statusLine(s report.Status) string {
	line := fmt.Sprintf("%s %s %s %s", s.Device, release(s), s.State, last(s))
	if p := s.Progress; p != nil && p.Total > 0 {
		line += fmt.Sprintf(" %d%%", 100*p.Done/p.Total)
	}
	return line
}

func release(s report.Status) string {
	if s.Release == nil {
		return "-"
	}
	return s.Release.Name + " " + s.Release.Version
}

func last(s report.Status) string {
	if l := s.LastResult; l != nil {
		return fmt.Sprintf("%s %s: %s", l.Outcome, l.Version, l.Reason)
	}
	return "-"
}
