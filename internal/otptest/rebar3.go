package otptest

// Rebar3 is the sample application of testdata/rebar3, a release named
// tally built by rebar3 (relx) the way rebar3's docs say: `rebar3
// release`, `rebar3 relup`, `rebar3 tar`, with ERTS and relx's extended
// start script. Its target (testdata/target/install-rebar3.sh) boots the
// node through relx's bin/tally, which boots the version written in its own
// REL_VSN line.
var Rebar3 = &Flavor{
	Release:  "tally",
	Tool:     "rebar3",
	Install:  "install-rebar3.sh",
	Requires: []string{"rebar3", "erl", "escript", "erlc"},
	Build:    func(out string) error { return runScript("sh", "rebar3/build.sh", out) },
}
