package otprel

import (
	"reflect"
	"testing"

	"github.com/ergo-services/ergo/etf"
)

func TestParseTerms(t *testing.T) {
	tests := []struct {
		src  string
		want []any
	}{
		{`{release, {"gauge", "1.0.0"}, {erts, "13.1.5"}, [{kernel, "8.5.3"}]}.`,
			[]any{Tuple{Atom("release"), Tuple{"gauge", "1.0.0"}, Tuple{Atom("erts"), "13.1.5"},
				List{Tuple{Atom("kernel"), "8.5.3"}}}}},
		{"%% comment\n[{app, [{k, 'Quoted Atom'}, {n, -12}, {h, 16#ff}, {f, 1.5e3}]}].\n",
			[]any{List{Tuple{Atom("app"), List{Tuple{Atom("k"), Atom("Quoted Atom")},
				Tuple{Atom("n"), int64(-12)}, Tuple{Atom("h"), int64(255)}, Tuple{Atom("f"), 1500.0}}}}}},
		{`{a, <<"bin">>, <<1,2>>, #{x => []}, "esc\"aped", $a}.`,
			[]any{Tuple{Atom("a"), Binary("bin"), Binary{1, 2}, Map{{Atom("x"), List{}}}, `esc"aped`, int64('a')}}},
		{"a. b.", []any{Atom("a"), Atom("b")}},
	}
	for _, tt := range tests {
		got, err := ParseTerms(tt.src)
		if err != nil {
			t.Errorf("ParseTerms(%q): %v", tt.src, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseTerms(%q) = %#v, want %#v", tt.src, got, tt.want)
		}
	}
}

func TestParseTermsErrors(t *testing.T) {
	for _, src := range []string{`{a, b`, `{a b}.`, `"open`, `[a,].`, `{a}`, `#{a}.`} {
		if _, err := ParseTerms(src); err == nil {
			t.Errorf("ParseTerms(%q) succeeded, want an error", src)
		}
	}
}

// Terms in messages read as Erlang prints them.
func TestFormatAsErlang(t *testing.T) {
	for _, c := range []struct {
		term etf.Term
		want string
	}{
		{etf.Atom("ok"), "ok"},
		{etf.Atom("Elixir.Meter.Health"), "'Elixir.Meter.Health'"},
		{etf.Atom("it's"), `'it\'s'`},
		{etf.Atom("receive"), "'receive'"},
		{etf.Map{etf.Atom("count"): 3}, "#{count => 3}"},
		{etf.Pid{Node: "a@b", ID: 271, Creation: 1796157084}, "<0.271.0>"},
		{etf.Pid{Node: "a@b", ID: 271 | 2<<32}, "<0.271.2>"},
		{etf.Tuple{etf.Atom("error"), etf.List{etf.Atom("a"), "x"}}, `{error,[a,"x"]}`},
		{etf.List{}, "[]"},
		{etf.ListImproper{1, 2}, "[1|2]"},
	} {
		if got := Format(c.term); got != c.want {
			t.Errorf("Format(%#v) = %s, want %s", c.term, got, c.want)
		}
	}
}
