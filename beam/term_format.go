package beam

import (
	"fmt"
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
		b.WriteString(string(v))
	case string:
		fmt.Fprintf(b, "%q", v)
	case []byte:
		fmt.Fprintf(b, "<<%q>>", v)
	case etf.Tuple:
		b.WriteByte('{')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			format(b, e)
		}
		b.WriteByte('}')
	case etf.List:
		if s, ok := charlist(v); ok {
			fmt.Fprintf(b, "%q", s)
			return
		}
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			format(b, e)
		}
		b.WriteByte(']')
	case etf.Pid:
		fmt.Fprintf(b, "<%d.%d>", v.ID, v.Creation)
	default:
		fmt.Fprint(b, v)
	}
}

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
