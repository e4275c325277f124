package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"os"

	"aead.dev/minisign"
	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/beamup/beamup/internal/cli"
)

func keygenCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("beamup keygen", flag.ContinueOnError)
	out := fs.String("o", "", "base name: writes BASE.key and BASE.pub")
	pwFile := fs.String("password-file", "", "encrypt the secret key with the password in this file")
	return &ffcli.Command{
		Name:       "keygen",
		ShortUsage: "beamup keygen -o BASE [--password-file F]",
		ShortHelp:  "make a minisign key pair for signing bundles",
		FlagSet:    fs,
		Exec: func(ctx context.Context, args []string) error {
			if *out == "" {
				return cli.Usage("keygen needs -o BASE")
			}
			pw := ""
			if *pwFile != "" {
				var err error
				if pw, err = password(*pwFile); err != nil {
					return err
				}
			}
			pub, priv, err := minisign.GenerateKey(rand.Reader)
			if err != nil {
				return err
			}
			var keyText []byte
			if pw != "" {
				keyText, err = minisign.EncryptKey(pw, priv)
			} else {
				keyText, err = priv.MarshalText()
			}
			if err != nil {
				return err
			}
			pubText, _ := pub.MarshalText()
			if _, err := os.Stat(*out + ".key"); err == nil {
				return cli.Usage("%s.key exists: keygen never overwrites a key", *out)
			}
			if err := os.WriteFile(*out+".key", append(keyText, '\n'), 0o600); err != nil {
				return err
			}
			if err := os.WriteFile(*out+".pub", append(pubText, '\n'), 0o644); err != nil {
				return err
			}
			if pw == "" {
				fmt.Fprintf(stderr, "warning: %s.key is not encrypted (as minisign -G -W); keep it where only the signer reads it\n", *out)
			}
			fmt.Fprintf(stdout, "wrote %s.key and %s.pub (key id %X)\n", *out, *out, pub.ID())
			return nil
		},
	}
}
