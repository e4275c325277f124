package updater

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/beamup/beamup/otprel"
)

// applyRuntime makes a release just installed hot (an upgrade, or a
// downgrade) run as a boot of it would: mix's consolidated protocols of
// vsn loaded, and its runtime configuration (runtime.exs, config
// providers) applied again over the sys.config that install_release
// applied. Releases that have neither are left as they are, without
// asking the node: an Erlang release has no Elixir to run.
func (u *Updater) applyRuntime(ctx context.Context, vsn string) error {
	if !u.mayBeElixir(vsn) {
		return nil
	}
	loaded, err := u.node.SwapConsolidated(ctx, u.cfg.Root, vsn)
	if err != nil {
		return err
	}
	if len(loaded) > 0 {
		u.Log("loaded the consolidated protocols of %s: %s", vsn, strings.Join(loaded, ", "))
	}
	applied, err := u.node.ApplyRuntimeConfig(ctx, u.cfg.Root, vsn)
	if err != nil {
		return err
	}
	if applied {
		u.Log("applied the runtime configuration of %s", vsn)
	}
	return nil
}

// mayBeElixir says whether release vsn may have what applyRuntime
// applies: its .rel lists elixir, or cannot be read to say it does not.
func (u *Updater) mayBeElixir(vsn string) bool {
	rels, _ := filepath.Glob(filepath.Join(u.cfg.Root, "releases", vsn, "*.rel"))
	if len(rels) == 0 {
		return true
	}
	for _, p := range rels {
		data, err := os.ReadFile(p)
		if err != nil {
			return true
		}
		rel, err := otprel.ParseRel(data)
		if err != nil || rel.App("elixir") != "" {
			return true
		}
	}
	return false
}
