package otprel

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ergo-services/ergo/etf"
)

// Format writes an Erlang term received from the node the way Erlang
// would print it, for error messages.
// Terms longer than 400 characters are cut: a reason must fit on a line.
func Format(t etf.Term) string {
	var b strings.Builder
	format(&b, t)
	if s := b.String(); len(s) > 400 {
		return s[:400] + "..."
	}
	return b.String()
}

func format(b *strings.Builder, t etf.Term) {
	switch v := t.(type) {
	case etf.Atom:
		b.WriteString(QuoteAtom(string(v)))
	case Atom:
		b.WriteString(QuoteAtom(string(v)))
	case Tuple:
		b.WriteByte('{')
		seq(b, v)
		b.WriteByte('}')
	case List:
		b.WriteByte('[')
		seq(b, v)
		b.WriteByte(']')
	case Binary:
		fmt.Fprintf(b, "<<%q>>", []byte(v))
	case string:
		fmt.Fprintf(b, "%q", v)
	case []byte:
		fmt.Fprintf(b, "<<%q>>", v)
	case etf.Tuple:
		b.WriteByte('{')
		seq(b, v)
		b.WriteByte('}')
	case etf.List:
		if s, ok := charlist(v); ok && len(v) > 0 {
			fmt.Fprintf(b, "%q", s)
			return
		}
		b.WriteByte('[')
		seq(b, v)
		b.WriteByte(']')
	case etf.ListImproper:
		b.WriteByte('[')
		seq(b, v[:len(v)-1])
		b.WriteByte('|')
		format(b, v[len(v)-1])
		b.WriteByte(']')
	case etf.Map:
		// Erlang prints map keys in term order; sorting their printed
		// forms is close enough for a message and stable.
		entries := make([]string, 0, len(v))
		for k, e := range v {
			var kb strings.Builder
			format(&kb, k)
			kb.WriteString(" => ")
			format(&kb, e)
			entries = append(entries, kb.String())
		}
		slices.Sort(entries)
		b.WriteString("#{" + strings.Join(entries, ",") + "}")
	case etf.Pid:
		// ergo keeps a pid's number and serial in one field; the node
		// prints its own pids as <0.Number.Serial>.
		fmt.Fprintf(b, "<0.%d.%d>", v.ID&0xffffffff, v.ID>>32)
	case etf.Ref:
		b.WriteString("#Ref<0")
		for i := len(v.ID) - 1; i >= 0; i-- {
			if v.ID[i] != 0 || i < 3 {
				fmt.Fprintf(b, ".%d", v.ID[i])
			}
		}
		b.WriteByte('>')
	case bool:
		fmt.Fprint(b, v)
	case nil:
		b.WriteString("[]")
	default:
		fmt.Fprint(b, v)
	}
}

func seq[T any](b *strings.Builder, l []T) {
	for i, e := range l {
		if i > 0 {
			b.WriteByte(',')
		}
		format(b, e)
	}
}

// QuoteAtom writes an atom as Erlang prints it: bare when it is a
// lowercase word, in single quotes otherwise ('Elixir.Meter').
func QuoteAtom(a string) string {
	bare := a != "" && a[0] >= 'a' && a[0] <= 'z' && !reserved[a]
	for _, r := range a {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '@') {
			bare = false
		}
	}
	if bare {
		return a
	}
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range a {
		switch r {
		case '\'', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

var reserved = map[string]bool{"after": true, "and": true, "andalso": true, "band": true, "begin": true,
	"bnot": true, "bor": true, "bsl": true, "bsr": true, "bxor": true, "case": true, "catch": true, "cond": true,
	"div": true, "end": true, "fun": true, "if": true, "let": true, "maybe": true, "not": true, "of": true,
	"or": true, "orelse": true, "receive": true, "rem": true, "try": true, "when": true, "xor": true}

// String reads a charlist, a string, a binary or an atom.
func String(t etf.Term) (string, bool) {
	switch v := t.(type) {
	case etf.Atom:
		return string(v), true
	case string:
		return v, true
	case []byte:
		return string(v), true
	case etf.List:
		return charlist(v)
	}
	return "", false
}

func charlist(l etf.List) (string, bool) {
	if len(l) == 0 {
		return "", true
	}
	r := make([]rune, 0, len(l))
	for _, e := range l {
		var n int64
		switch x := e.(type) {
		case int:
			n = int64(x)
		case int64:
			n = x
		case uint8:
			n = int64(x)
		default:
			return "", false
		}
		if n < 0 || n > 0x10ffff {
			return "", false
		}
		r = append(r, rune(n))
	}
	return string(r), true
}

// Int reads an integer term, whichever Go type ergo decoded it to.
func Int(t etf.Term) (int, bool) {
	switch v := t.(type) {
	case int:
		return v, true
	case int8:
		return int(v), true
	case int16:
		return int(v), true
	case int32:
		return int(v), true
	case int64:
		return int(v), true
	case uint8:
		return int(v), true
	case uint16:
		return int(v), true
	case uint32:
		return int(v), true
	case uint64:
		return int(v), true
	}
	return 0, false
}
