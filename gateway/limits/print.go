package limits

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/vektah/gqlparser/v2/ast"
)

// printDocument prints doc canonically (see "Canonical print" in the
// package documentation): every operation, then every fragment, one per
// line, with a space between two tokens only where the lexers need one.
// It refuses, with a BAD_QUERY *LimitError, a document holding a value
// graphql-go v1.11.0 would not read as gqlparser did: an integer literal
// outside int64 or a float literal outside float64 (graphql-go panics
// deserializing them), or a string that is not valid UTF-8.
func printDocument(doc *ast.QueryDocument) (string, error) {
	var p printer
	for _, op := range doc.Operations {
		p.newline()
		p.operation(op)
	}
	for _, f := range doc.Fragments {
		p.newline()
		p.fragment(f)
	}
	if p.err != nil {
		return "", p.err
	}
	return p.b.String(), nil
}

type printer struct {
	b strings.Builder
	// last is the last byte written, to decide whether the next token needs
	// a space before it.
	last byte
	err  error
}

func isWordByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// tok writes one token. A space goes between two tokens that would
// otherwise merge (a name or number then a name or number: "1 e5" is
// not "1e5"), and between a string and a following quote, which both
// lexers would read as a block string ("" then "x") and graphql-go reads
// as one even after a non-empty string (its lexer peeks for a quote after
// every string token).
func (p *printer) tok(s string) {
	if s == "" {
		return
	}
	if p.last != 0 && (isWordByte(p.last) && isWordByte(s[0]) || p.last == '"' && s[0] == '"') {
		p.b.WriteByte(' ')
	}
	p.b.WriteString(s)
	p.last = s[len(s)-1]
}

// newline starts a definition on a line of its own.
func (p *printer) newline() {
	if p.b.Len() > 0 {
		p.b.WriteByte('\n')
	}
	p.last = 0
}

func (p *printer) fail(format string, args ...any) {
	if p.err == nil {
		p.err = badQuery(format, args...)
	}
}

func (p *printer) operation(op *ast.OperationDefinition) {
	if op.Operation == ast.Query && op.Name == "" && len(op.VariableDefinitions) == 0 && len(op.Directives) == 0 {
		p.selectionSet(op.SelectionSet) // the shorthand
		return
	}
	p.tok(string(op.Operation))
	p.tok(op.Name)
	p.variableDefinitions(op.VariableDefinitions)
	p.directives(op.Directives)
	p.selectionSet(op.SelectionSet)
}

func (p *printer) fragment(f *ast.FragmentDefinition) {
	p.tok("fragment")
	p.tok(f.Name)
	// Fragment variables are an experimental gqlparser extension that
	// graphql-go does not parse: printed, they make it refuse the
	// document, as it would have refused the caller's.
	p.variableDefinitions(f.VariableDefinition)
	p.tok("on")
	p.tok(f.TypeCondition)
	p.directives(f.Directives)
	p.selectionSet(f.SelectionSet)
}

// group prints items, each with each, between open and close; nothing
// when there are none (GraphQL has no empty "()" or "{}" there).
func group[E any](p *printer, open, close string, items []E, each func(E)) {
	if len(items) == 0 {
		return
	}
	p.tok(open)
	for _, it := range items {
		each(it)
	}
	p.tok(close)
}

func (p *printer) variableDefinitions(vds ast.VariableDefinitionList) {
	group(p, "(", ")", vds, func(vd *ast.VariableDefinition) {
		p.tok("$")
		p.tok(vd.Variable)
		p.tok(":")
		p.typ(vd.Type)
		if vd.DefaultValue != nil {
			p.tok("=")
			p.value(vd.DefaultValue)
		}
		p.directives(vd.Directives)
	})
}

func (p *printer) typ(t *ast.Type) {
	if t == nil {
		return
	}
	if t.Elem != nil {
		p.tok("[")
		p.typ(t.Elem)
		p.tok("]")
	} else {
		p.tok(t.NamedType)
	}
	if t.NonNull {
		p.tok("!")
	}
}

func (p *printer) directives(ds ast.DirectiveList) {
	for _, d := range ds {
		p.tok("@")
		p.tok(d.Name)
		p.arguments(d.Arguments)
	}
}

func (p *printer) arguments(args ast.ArgumentList) {
	group(p, "(", ")", args, func(a *ast.Argument) {
		p.tok(a.Name)
		p.tok(":")
		p.value(a.Value)
	})
}

// selectionSet prints nothing for an empty set: gqlparser refuses one, so
// empty means none.
func (p *printer) selectionSet(ss ast.SelectionSet) {
	group(p, "{", "}", ss, func(sel ast.Selection) {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Alias != "" && s.Alias != s.Name {
				p.tok(s.Alias)
				p.tok(":")
			}
			p.tok(s.Name)
			p.arguments(s.Arguments)
			p.directives(s.Directives)
			p.selectionSet(s.SelectionSet)
		case *ast.FragmentSpread:
			p.tok("...")
			p.tok(s.Name)
			p.directives(s.Directives)
		case *ast.InlineFragment:
			p.tok("...")
			if s.TypeCondition != "" {
				p.tok("on")
				p.tok(s.TypeCondition)
			}
			p.directives(s.Directives)
			p.selectionSet(s.SelectionSet)
		}
	})
}

func (p *printer) value(v *ast.Value) {
	if v == nil {
		return
	}
	switch v.Kind {
	case ast.Variable:
		p.tok("$")
		p.tok(v.Raw)
	case ast.IntValue:
		// graphql-go deserializes an Int token with strconv.ParseInt(_, 10,
		// 64) and panics if it fails, whatever the argument's type (a custom
		// scalar or Float takes any integer literal; overlapping fields'
		// arguments are compared through the same call during validation).
		if _, err := strconv.ParseInt(v.Raw, 10, 64); err != nil {
			p.fail("integer literal %s%s is out of range: graphql-go holds integer literals in 64 bits (%d to %d)",
				v.Raw, at(v.Position), int64(-1<<63), int64(1<<63-1))
		}
		p.tok(v.Raw)
	case ast.FloatValue:
		// Likewise strconv.ParseFloat(_, 64), which fails on overflow (1e400)
		// but not on underflow (1e-400 is 0).
		if _, err := strconv.ParseFloat(v.Raw, 64); err != nil {
			p.fail("float literal %s%s is out of range: graphql-go holds float literals in 64 bits", v.Raw, at(v.Position))
		}
		p.tok(v.Raw)
	case ast.StringValue, ast.BlockValue:
		if !utf8.ValidString(v.Raw) {
			pos := v.Position
			if pos != nil { // gqlparser's column is that of the first character inside the quotes
				q := *pos
				q.Column -= map[ast.ValueKind]int{ast.StringValue: 1, ast.BlockValue: 3}[v.Kind]
				pos = &q
			}
			p.fail("string literal%s is not valid UTF-8", at(pos))
		}
		p.tok(quote(v.Raw))
	case ast.BooleanValue, ast.EnumValue:
		p.tok(v.Raw)
	case ast.NullValue:
		p.tok("null")
	case ast.ListValue:
		p.tok("[")
		for _, c := range v.Children {
			p.value(c.Value)
		}
		p.tok("]")
	case ast.ObjectValue:
		p.tok("{")
		for _, c := range v.Children {
			p.tok(c.Name)
			p.tok(":")
			p.value(c.Value)
		}
		p.tok("}")
	default:
		p.fail("value %s%s has an unknown kind %d", v.Raw, at(v.Position), v.Kind)
	}
}

// at formats a position for an error message.
func at(pos *ast.Position) string {
	if pos == nil {
		return ""
	}
	return fmt.Sprintf(" (line %d, column %d)", pos.Line, pos.Column)
}

// quote writes s (valid UTF-8) as an ordinary GraphQL string that
// gqlparser and graphql-go read back as s: only the escapes \" \\ \n \r
// \t \b \f and \u00XX (for the other control characters and DEL), which
// GraphQL, Go's text/scanner and strconv.Unquote all read the same way;
// everything else, non-ASCII included, as it is.
func quote(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if c < 0x20 || c == 0x7f {
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			} else {
				b.WriteByte(c) // bytes of a multi-byte rune are ≥ 0x80
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}
