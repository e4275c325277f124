package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/beamup/beamup/bundle"
	"github.com/beamup/beamup/internal/cli"
)

func verifyCommand(stdout io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("beamup verify", flag.ContinueOnError)
	var pubs stringList
	fs.Var(&pubs, "pub", "trusted minisign public key (repeat for several)")
	return &ffcli.Command{
		Name:       "verify",
		ShortUsage: "beamup verify --pub PUB BUNDLE",
		ShortHelp:  "check a bundle's signature and every payload chunk",
		FlagSet:    fs,
		Exec: func(ctx context.Context, args []string) error {
			if len(pubs) == 0 || len(args) != 1 {
				return cli.Usage("verify needs --pub PUB and one bundle")
			}
			keys, err := bundle.LoadPublicKeys(pubs)
			if err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			h, err := bundle.Verify(ctx, f, keys, nil, io.Discard)
			if err != nil {
				return cli.Exit(1, fmt.Errorf("%s is not valid: %w", args[0], err))
			}
			printSummary(stdout, h)
			fmt.Fprintln(stdout, "valid: signature and all payload chunks verified")
			return nil
		},
	}
}

func inspectCommand(stdout io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("beamup inspect", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the manifest JSON")
	return &ffcli.Command{
		Name:       "inspect",
		ShortUsage: "beamup inspect BUNDLE [--json]",
		ShortHelp:  "show a bundle's manifest without verifying it",
		FlagSet:    fs,
		Exec: func(ctx context.Context, args []string) error {
			if len(args) != 1 {
				return cli.Usage("inspect needs one bundle")
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			h, err := bundle.ReadHeader(f)
			if err != nil {
				return err
			}
			if *asJSON {
				var v any
				json.Unmarshal(h.Raw, &v)
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}
			printSummary(stdout, h)
			fmt.Fprintln(stdout, "(not verified: use beamup verify --pub KEY)")
			return nil
		},
	}
}

func printSummary(w io.Writer, h *bundle.Header) {
	m := h.Manifest
	fmt.Fprintf(w, "bundle    %s\nkind      %s\nname      %s\nversion   %s\nsecurity  %d\n",
		h.ID(), m.Kind, m.Name, m.Version, m.SecurityVersion)
	if m.Upgrade != nil {
		fmt.Fprintf(w, "upgrade   mode %s, from %v\n", m.Mode(), m.Upgrade.From)
	}
	if m.Arch != "" {
		fmt.Fprintf(w, "arch      %s\n", m.Arch)
	}
	if len(m.Compatible) > 0 {
		fmt.Fprintf(w, "boards    %v\n", m.Compatible)
	}
	fmt.Fprintf(w, "payload   %s, %d bytes in %d chunks\nsigned    %q\ncreated   %s\n",
		m.Payload.Path, m.Payload.Size, len(m.Payload.Chunks), h.TrustedComment, m.Created.Format("2006-01-02T15:04:05Z07:00"))
}
