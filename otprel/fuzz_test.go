package otprel

import (
	"bytes"
	"testing"
)

// .rel, relup and sys.config files are read with ParseTerms: any bytes
// give terms or an error, never a panic or a hang.
func FuzzParseTerms(f *testing.F) {
	for _, s := range []string{
		`{release,{"gauge","1.1.0"},{erts,"13.1.5"},[{kernel,"8.5.3"},{gauge,"1.1.0",permanent}]}.`,
		`{"1.1.0",[{"1.0.0",[],[point_of_no_return,{load,{m,brutal_purge,soft_purge}}]}],[]}.`,
		`[{gauge,[{site,<<"line 1">>},#{a => 1},'Elixir.Meter',-12,3.5e3,$a]}].`,
		`#{a => <<"b">>}.`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		terms, err := ParseTerms(s)
		if err == nil {
			for _, term := range terms {
				Format(term)
			}
		}
	})
}

// A release tarball comes from a signed bundle, but ReadTarball must
// stand any bytes: a release or an error, never a panic.
func FuzzReadTarball(f *testing.F) {
	f.Add(makeTarball(f, map[string]string{
		"releases/1.1.0/app.rel":           `{release, {"app", "1.1.0"}, {erts, "13.1.5"}, [{kernel, "8.5.3"}, {sasl, "4.2"}, {app, "1.1.0"}]}.`,
		"releases/1.1.0/start.boot":        "boot",
		"releases/1.1.0/relup":             `{"1.1.0", [{"1.0.0", [], [point_of_no_return]}], []}.`,
		"lib/kernel-8.5.3/ebin/kernel.app": "",
		"lib/sasl-4.2/ebin/sasl.app":       "",
		"lib/app-1.1.0/ebin/app.app":       `{application, app, [{vsn, "1.1.0"}, {included_applications, []}]}.`,
	}))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		ReadTarball(bytes.NewReader(data))
	})
}
