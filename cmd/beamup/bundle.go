package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/beamup/beamup/bundle"
	"github.com/beamup/beamup/delta"
	"github.com/beamup/beamup/internal/cli"
	"github.com/beamup/beamup/otprel"
	"github.com/beamup/beamup/relup"
)

func bundleCommand(stdout io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("beamup bundle", flag.ContinueOnError)
	var (
		key        = fs.String("key", "", "minisign secret key")
		pwFile     = fs.String("password-file", "", "password of an encrypted key (or BEAMUP_KEY_PASSWORD)")
		release    = fs.String("release", "", "OTP release tarball (mix release, rebar3 tar, systools:make_tar)")
		agent      = fs.String("agent", "", "beamupd executable")
		vsn        = fs.String("version", "", "agent version")
		arch       = fs.String("arch", "", "agent arch: amd64, arm64, armv7, ...")
		secVersion = fs.Int("security-version", 0, "anti-rollback security version")
		mode       = fs.String("mode", "auto", "upgrade mode: auto, hot or cold")
		downgrade  = fs.Bool("downgrade", false, "the release may replace a newer one (signed into the manifest)")
		relupFrom  = fs.String("relup-from", "", "release tarball the bundle upgrades hot from: its relup is made (with erl), appups the release lacks generated")
		base       = fs.String("base", "", "base release (tarball or installed directory): make a delta that sends only the files that differ from it")
		chunk      = fs.Int64("chunk-size", bundle.DefaultChunkSize, "payload chunk size in bytes")
		out        = fs.String("o", "", "output bundle file")
		compatible stringList
		from       stringList
	)
	fs.Var(&compatible, "compatible", "board id the bundle is for (repeat; none = any board)")
	fs.Var(&from, "from", "version the release upgrades from (repeat; none = any)")
	return &ffcli.Command{
		Name: "bundle",
		ShortUsage: "beamup bundle --key KEY --release REL.tar.gz [--security-version N] [--compatible B]... [--mode auto|hot|cold] [--from VSN]... [--relup-from OLD.tar.gz] [--base OLD.tar.gz|DIR] [--downgrade] -o OUT\n" +
			"       beamup bundle --key KEY --agent BINARY --version V --arch ARCH [--security-version N] -o OUT",
		ShortHelp: "make a signed bundle of a release or of beamupd",
		FlagSet:   fs,
		Exec: func(ctx context.Context, args []string) error {
			if *key == "" || *out == "" || (*release == "") == (*agent == "") {
				return cli.Usage("bundle needs --key, -o and one of --release or --agent")
			}
			sk, err := secretKey(*key, *pwFile)
			if err != nil {
				return err
			}
			m := &bundle.Manifest{Format: 1, SecurityVersion: *secVersion, Compatible: compatible,
				Created: time.Now().UTC().Truncate(time.Second)}
			payload := *release
			if *relupFrom != "" && *release != "" {
				tmp, err := os.MkdirTemp("", "beamup-relup-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(tmp)
				made, err := relup.Make(ctx, *relupFrom, *release, tmp)
				if err != nil {
					return err
				}
				for _, g := range made.Generated {
					fmt.Fprintf(stdout, "generated %s\n", g)
				}
				for app, cycles := range made.Cycles {
					fmt.Fprintf(stdout, "%s: modules that call each other, ordered by name: %v\n", app, cycles)
				}
				payload = made.Tarball
			}
			if *release != "" {
				f, err := os.Open(*release)
				if err != nil {
					return err
				}
				files, err := otprel.ReadTarball(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", *release, err)
				}
				m.Kind, m.Name, m.Version = bundle.KindRelease, files.Name, files.Version
				m.Upgrade = &bundle.Upgrade{From: from, Mode: *mode, Downgrade: *downgrade}
				if m.Upgrade.From == nil {
					m.Upgrade.From = []string{}
				}
				if *base != "" {
					if payload, m.Delta, err = makeDelta(*base, payload, stdout); err != nil {
						return err
					}
					defer os.Remove(payload)
					m.Format = 2
				}
			} else {
				if *vsn == "" || *arch == "" {
					return cli.Usage("an agent bundle needs --version and --arch")
				}
				payload = *agent
				m.Kind, m.Name, m.Version, m.Arch = bundle.KindAgent, "beamupd", *vsn, *arch
			}
			if m.Payload, err = bundle.HashPayload(payload, *chunk); err != nil {
				return err
			}
			m.Payload.Path = m.Name + "-" + m.Version + filepath.Ext(payload)
			if m.Kind == bundle.KindRelease {
				m.Payload.Path = m.Name + "-" + m.Version + ".tar.gz"
				if m.Delta != nil {
					m.Payload.Path = m.Name + "-" + m.Version + ".delta"
				}
			}
			raw, err := json.MarshalIndent(m, "", "  ")
			if err != nil {
				return err
			}
			if _, err := bundle.ParseManifest(raw); err != nil {
				return cli.Usage("%v", err)
			}
			sig := bundle.SignManifest(sk, raw, m.Name+" "+m.Version)
			tmp := *out + ".tmp"
			f, err := os.Create(tmp)
			if err != nil {
				return err
			}
			defer os.Remove(tmp)
			if err := bundle.Write(f, raw, sig, payload, m); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			if err := os.Rename(tmp, *out); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote %s: %s %s %s, %d bytes, bundle %s\n", *out, m.Kind, m.Name, m.Version,
				m.Payload.Size, bundle.ID(raw))
			return nil
		},
	}
}

// makeDelta writes the delta of tarball against base to a temporary file.
func makeDelta(base, tarball string, stdout io.Writer) (string, *bundle.Delta, error) {
	f, err := os.CreateTemp("", "beamup-delta-")
	if err != nil {
		return "", nil, err
	}
	st, err := delta.Make(base, tarball, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", nil, err
	}
	fmt.Fprintf(stdout, "delta against %s: %d files, %d from the base, %d patched, %d whole\n",
		st.Base, st.Files, st.Copied, st.Patched, st.Whole)
	return f.Name(), &bundle.Delta{Base: st.Base, Files: st.Files, Size: st.Size}, nil
}
