package otptest

import (
	"github.com/ergo-services/ergo/etf"

	"github.com/beamup/beamup/otprel"
)

// Mix is the Elixir sample of testdata/mix, built by testdata/mix/build.sh
// with Debian's elixir: `MIX_ENV=prod mix release` with include_erts and
// the :tar step, config/runtime.exs, consolidated protocols, and for 1.1.0
// a hand-written appup and a relup made by systools:make_relup. 1.2.0 has
// neither, a plain release that installs only by restarting the node onto
// it (Meter.describe/0 says "v3 ...", Meter.unit/0 is new). It installs
// with testdata/target/install-mix.sh and boots through mix's own
// bin/meter.
var Mix = &Flavor{
	Release:  "meter",
	Tool:     "mix",
	Install:  "install-mix.sh",
	Requires: []string{"mix", "elixir", "erl", "escript"},
	Build:    func(out string) error { return runScript("sh", "mix/build.sh", out) },
}

// MeterSite is the value that install-mix.sh puts in METER_SITE for the
// target's node, which the sample's config/runtime.exs sets as the meter
// application's :site when the release boots.
func MeterSite(tg *Target) string { return "site-of-" + tg.Node }

// MeterBuildSite is the :site that the sample's config/config.exs sets at
// build time, in sys.config: what the node holds when runtime.exs has not
// run.
const MeterBuildSite = "build-time"

// MeterEnv reads the answer of application:get_env/2 for one of meter's
// binary values: the string itself, or the term as Erlang prints it when
// it is not {ok, Binary} (undefined, say).
func MeterEnv(t etf.Term) string {
	if r, ok := t.(etf.Tuple); ok && len(r) == 2 && r[0] == etf.Atom("ok") {
		if b, ok := r[1].([]byte); ok {
			return string(b)
		}
	}
	return otprel.Format(t)
}
