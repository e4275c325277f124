package updater

import (
	"context"
	"strings"
)

// applyRuntime makes a release just installed hot (an upgrade, or a
// downgrade) run as a boot of it would: mix's consolidated protocols of
// vsn loaded, and its runtime configuration (runtime.exs, config
// providers) applied again over the sys.config that install_release
// applied. Releases that have neither are left as they are.
func (u *Updater) applyRuntime(ctx context.Context, vsn string) error {
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
