package otprel

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Terms in the Erlang text format, as file:consult/1 reads them from .rel,
// relup and sys.config files. Strings stay strings; atoms, tuples and lists
// get their own types so that a .rel file can be matched on its shape.
type (
	Atom  string
	Tuple []any
	List  []any
	// Binary is <<"text">> or <<1,2,3>>.
	Binary []byte
	// Map is #{K => V}, in source order.
	Map [][2]any
)

// ParseTerms reads the dot-terminated terms of a consult file.
func ParseTerms(src string) ([]any, error) {
	p := &termParser{src: src}
	var terms []any
	for {
		p.skip()
		if p.pos >= len(p.src) {
			return terms, nil
		}
		t, err := p.term()
		if err != nil {
			return nil, err
		}
		p.skip()
		if !p.eat('.') {
			return nil, p.errorf("expected '.' after term")
		}
		terms = append(terms, t)
	}
}

type termParser struct {
	src string
	pos int
}

func (p *termParser) errorf(format string, args ...any) error {
	line := 1 + strings.Count(p.src[:p.pos], "\n")
	return fmt.Errorf("line %d: %s", line, fmt.Sprintf(format, args...))
}

// skip passes over white space and % comments.
func (p *termParser) skip() {
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == '%':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *termParser) eat(c byte) bool {
	p.skip()
	if p.pos < len(p.src) && p.src[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

func (p *termParser) term() (any, error) {
	p.skip()
	if p.pos >= len(p.src) {
		return nil, p.errorf("unexpected end of input")
	}
	c := p.src[p.pos]
	switch {
	case c == '{':
		p.pos++
		items, err := p.seq('}')
		return Tuple(items), err
	case c == '[':
		p.pos++
		items, err := p.seq(']')
		if items == nil {
			items = []any{}
		}
		return List(items), err
	case c == '"':
		return p.quoted('"')
	case c == '\'':
		s, err := p.quoted('\'')
		return Atom(s), err
	case c == '<' && strings.HasPrefix(p.src[p.pos:], "<<"):
		return p.binary()
	case c == '#' && strings.HasPrefix(p.src[p.pos:], "#{"):
		return p.mapTerm()
	case c == '-' || c == '$' || (c >= '0' && c <= '9'):
		return p.number()
	case c >= 'a' && c <= 'z':
		start := p.pos
		for p.pos < len(p.src) && isAtomChar(rune(p.src[p.pos])) {
			p.pos++
		}
		return Atom(p.src[start:p.pos]), nil
	}
	return nil, p.errorf("unexpected %q", c)
}

func isAtomChar(r rune) bool {
	return r == '_' || r == '@' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// seq reads comma-separated terms up to the closing byte.
func (p *termParser) seq(end byte) ([]any, error) {
	var items []any
	if p.eat(end) {
		return items, nil
	}
	for {
		t, err := p.term()
		if err != nil {
			return nil, err
		}
		items = append(items, t)
		if p.eat(end) {
			return items, nil
		}
		if !p.eat(',') {
			return nil, p.errorf("expected ',' or %q", end)
		}
	}
}

func (p *termParser) quoted(q byte) (string, error) {
	p.pos++ // opening quote
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		p.pos++
		switch c {
		case q:
			return b.String(), nil
		case '\\':
			if p.pos >= len(p.src) {
				return "", p.errorf("unterminated escape")
			}
			e := p.src[p.pos]
			p.pos++
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 's':
				b.WriteByte(' ')
			default:
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", p.errorf("unterminated %c", q)
}

func (p *termParser) number() (any, error) {
	if p.src[p.pos] == '$' { // character literal
		if p.pos+1 >= len(p.src) {
			return nil, p.errorf("bad character literal")
		}
		p.pos += 2
		return int64(p.src[p.pos-1]), nil
	}
	start := p.pos
	if p.src[p.pos] == '-' {
		p.pos++
	}
	isFloat := false
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c == '.' && p.pos+1 < len(p.src) && p.src[p.pos+1] >= '0' && p.src[p.pos+1] <= '9' {
			isFloat = true
		} else if !(c >= '0' && c <= '9' || c == '#' || c == 'e' || c == 'E' ||
			(isFloat && (c == '-' || c == '+')) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) {
			break
		}
		p.pos++
	}
	text := p.src[start:p.pos]
	if isFloat {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, p.errorf("bad number %q", text)
		}
		return f, nil
	}
	if base, digits, ok := strings.Cut(text, "#"); ok { // 16#ff
		b, err := strconv.Atoi(base)
		if err != nil {
			return nil, p.errorf("bad number %q", text)
		}
		n, err := strconv.ParseInt(digits, b, 64)
		if err != nil {
			return nil, p.errorf("bad number %q", text)
		}
		return n, nil
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return nil, p.errorf("bad number %q", text)
	}
	return n, nil
}

func (p *termParser) binary() (any, error) {
	p.pos += 2
	var out Binary
	if p.skip(); strings.HasPrefix(p.src[p.pos:], ">>") {
		p.pos += 2
		return out, nil
	}
	for {
		t, err := p.term()
		if err != nil {
			return nil, err
		}
		switch v := t.(type) {
		case string:
			out = append(out, v...)
		case int64:
			out = append(out, byte(v))
		default:
			return nil, p.errorf("unsupported binary segment")
		}
		p.skip()
		if strings.HasPrefix(p.src[p.pos:], ">>") {
			p.pos += 2
			return out, nil
		}
		if !p.eat(',') {
			return nil, p.errorf("expected ',' or '>>'")
		}
	}
}

func (p *termParser) mapTerm() (any, error) {
	p.pos += 2
	var m Map
	if p.eat('}') {
		return m, nil
	}
	for {
		k, err := p.term()
		if err != nil {
			return nil, err
		}
		p.skip()
		if !strings.HasPrefix(p.src[p.pos:], "=>") {
			return nil, p.errorf("expected '=>'")
		}
		p.pos += 2
		v, err := p.term()
		if err != nil {
			return nil, err
		}
		m = append(m, [2]any{k, v})
		if p.eat('}') {
			return m, nil
		}
		if !p.eat(',') {
			return nil, p.errorf("expected ',' or '}'")
		}
	}
}
