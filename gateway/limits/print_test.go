package limits

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

func mustPrint(t *testing.T, q string) (string, error) {
	t.Helper()
	doc, err := parser.ParseQuery(&ast.Source{Input: q})
	if err != nil {
		t.Fatalf("couldn't parse %q: %v", q, err)
	}
	return printDocument(doc)
}

// TestPrint pins the canonical print: one definition a line, a space only
// between tokens that would otherwise merge, strings as ordinary strings
// with the few escapes every reader agrees on.
func TestPrint(t *testing.T) {
	for _, tc := range []struct{ name, q, want string }{
		{"shorthand", `{ a }`, `{a}`},
		{"anonymous query keyword dropped", `query { a b }`, `{a b}`},
		{"alias, arguments, nesting", `{ x: a(first: 3, after: "c") { b { c } d } }`,
			`{x:a(first:3 after:"c"){b{c}d}}`},
		{"alias equal to the name", `{ a: a }`, `{a}`},
		{"operation with variables, defaults and directives",
			`query Q($a: Int = 1, $b: [String!]! @d, $c: In = {x: [1, 2], y: null}) @op(x: $a) { f(a: $a, b: $b) }`,
			`query Q($a:Int=1$b:[String!]!@d$c:In={x:[1 2]y:null})@op(x:$a){f(a:$a b:$b)}`},
		{"mutation and subscription", "mutation M { a }\nsubscription { b }", "mutation M{a}\nsubscription{b}"},
		{"operations first, then fragments",
			`fragment F on T @d { a ...G } { ...F @include(if: true) } fragment G on T { b }`,
			"{...F@include(if:true)}\nfragment F on T@d{a...G}\nfragment G on T{b}"},
		{"inline fragments", `{ ... on T { a } ... @skip(if: $s) { b } ... { c } ...onT }`,
			`{...on T{a}...@skip(if:$s){b}...{c}...onT}`},
		{"value kinds",
			`{ f(v: $v, i: -12, z: 0, fl: -1.5e-3, f2: 2E+8, s: "s", b: """b""", t: true, fa: false, n: null, e: RED, l: [], o: {}, ll: [[1], [2, 3]], oo: {a: {b: [ENUM]}}) }`,
			`{f(v:$v i:-12 z:0 fl:-1.5e-3 f2:2E+8 s:"s"b:"b"t:true fa:false n:null e:RED l:[]o:{}ll:[[1][2 3]]oo:{a:{b:[ENUM]}})}`},
		{"numbers and names stay apart", `{ f(l: [1 A 2.5 B -3 -4 C]) }`, `{f(l:[1 A 2.5 B-3-4 C])}`},
		{"strings stay apart from quotes", `{ f(l: ["" "" "a""b"]) }`, `{f(l:["" "" "a" "b"])}`},
		{"comments, commas, BOMs, CRLF and tabs dropped",
			"\ufeff# c\r\n{\ufeff\t a , # \"\"\" c\n b,,, }\r\n#end", `{a b}`},
		{"escapes decoded, then re-escaped",
			`{ f(s: "\"\\\/\b\f\n\r\t\u0041\u00e9\u0000\u001f\u007F\u{1F600}\uD83D\uDE00") }`,
			`{f(s:"\"\\/\b\f\n\r\tAé\u0000\u001F\u007F😀😀")}`},
		{"raw DEL and tab", "{ f(s: \"a\x7f\tb\") }", `{f(s:"a\u007F\tb")}`},
		{"lone surrogates are U+FFFD to gqlparser", `{ f(s: "\uD800x\uDC00") }`, `{f(s:"�x�")}`},
		{"raw UTF-8", `{ f(s: "日本語 ñ 😀 ` + "\u2028\ufeff" + `") }`, `{f(s:"日本語 ñ 😀 ` + "\u2028\ufeff" + `")}`},
		{"block string: indentation, blank lines, CRLF",
			"{ f(s: \"\"\"\r\n    first\r\n      second\n\n    \"third\"\n  \"\"\") }",
			`{f(s:"first\n  second\n\n\"third\"")}`},
		{"block string with escaped triple quote", `{ f(s: """a\"""b""" t: """""""") }`, `{f(s:"a\"\"\"b"t:"\"\"")}`},
		{"block string keeps backslashes", `{ f(s: """\n\u0041\\ x""") }`, `{f(s:"\\n\\u0041\\\\ x")}`},
		{"the review's query: the selections stay in the string",
			smuggle("item(id: ", ") { id }", "items(first: 100) { id }", 2),
			`{item(id:"\"\"\") { id }\n  r0: items(first: 100) { id }\n  r1: items(first: 100) { id }\n}\n# "){id}}`},
		{"fragment variables are printed for graphql-go to refuse",
			`{ ...F } fragment F($x: Int = 1) on T { a(x: $x) }`,
			"{...F}\nfragment F($x:Int=1)on T{a(x:$x)}"},
		{"integer boundaries", `{ f(a: 9223372036854775807, b: -9223372036854775808, c: 1e308, d: 1e-400) }`,
			`{f(a:9223372036854775807 b:-9223372036854775808 c:1e308 d:1e-400)}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mustPrint(t, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("print of %q\n got %s\nwant %s", tc.q, got, tc.want)
			}
			// A fixpoint: the print prints as itself.
			if again, err := mustPrint(t, got); err != nil || again != got {
				t.Errorf("print of the print: %q, %v; want %q", again, err, got)
			}
		})
	}
}

// TestPrintRefuses lists what cannot be printed to be read the same way,
// wherever it is in the document.
func TestPrintRefuses(t *testing.T) {
	for _, tc := range []struct{ name, q, inMsg string }{
		{"argument", `{ f(u: 9223372036854775808) }`, "integer literal 9223372036854775808 (line 1, column 8) is out of range"},
		{"negative", `{ f(u: -9223372036854775809) }`, "integer literal -9223372036854775809 (line 1, column 8) is out of range"},
		{"nested list", `{ f(l: [1, [2, 18446744073709551616]]) }`, "integer literal 18446744073709551616"},
		{"nested object", `{ f(o: {a: {b: [99999999999999999999]}}) }`, "integer literal 99999999999999999999"},
		{"variable default", `query($u: Uint64 = 99999999999999999999) { f(u: $u) }`, "integer literal 99999999999999999999 (line 1, column 20)"},
		{"variable directive", `query($u: Int @d(x: 99999999999999999999)) { f }`, "out of range"},
		{"directive argument", `{ f @include(if: 99999999999999999999) }`, "out of range"},
		{"operation directive", `query @d(x: 99999999999999999999) { f }`, "out of range"},
		{"inline fragment directive", `{ ... @d(x: 99999999999999999999) { f } }`, "out of range"},
		{"spread directive", `{ ...F @d(x: 99999999999999999999) } fragment F on T { f }`, "out of range"},
		{"fragment", `{ ...F } fragment F on T { f(u: 99999999999999999999) }`, "out of range"},
		{"another operation", `query A { f } query B { f(u: 99999999999999999999) }`, "out of range"},
		{"float overflow", `{ f(x: 1e400) }`, "float literal 1e400 (line 1, column 8) is out of range"},
		{"negative float overflow", `{ f(x: [-1.5e309]) }`, "float literal -1.5e309"},
		{"invalid UTF-8", "{ f(s: \"a\xffb\") }", "string literal (line 1, column 8) is not valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mustPrint(t, tc.q)
			le := wantLimitError(t, err, CodeBadQuery)
			if !strings.Contains(le.Msg, tc.inMsg) {
				t.Errorf("error %q does not contain %q", le.Msg, tc.inMsg)
			}
		})
	}
}

func TestQuote(t *testing.T) {
	for s, want := range map[string]string{
		"":                      `""`,
		`"\`:                    `"\"\\"`,
		"\x00\x01\x1f\x7f\x80é": "\"\\u0000\\u0001\\u001F\\u007F\x80é\"",
		"\b\f\n\r\t":            `"\b\f\n\r\t"`,
		"\u2028😀":               "\"\u2028😀\"",
	} {
		if got := quote(s); got != want {
			t.Errorf("quote(%q) = %s, want %s", s, got, want)
		}
	}
}

// FuzzPrintedStringsReadTheSame checks the string half of the canonical
// print against graphql-go itself: whatever string literal lit gqlparser
// reads in { echo(s: lit) }, graphql-go, given Report.Query, hands the
// resolver the very same string.
func FuzzPrintedStringsReadTheSame(f *testing.F) {
	for _, s := range []string{
		`"plain"`, `""`, `"\"\\\/\b\f\n\r\t"`, `"\u0000\u001F\u007F\u00e9\u2028"`,
		`"\u{1F600}\u{0}\u{10FFFF}"`, `"\uD83D\uDE00"`, `"\uD800"`, `"\uDC00\uD800x"`,
		`"日本語"`, "\"\x7f\t\"", `"""block"""`, `""""""`, `"""a\"""b"""`, `""""a""""`,
		"\"\"\"\r\n  x\r\n    y\n\"\"\"", `"""\n\u0041"""`, `"""a\\"""`, "\"a\xffb\"", "\"\"\"a\xffb\"\"\"",
	} {
		f.Add(s)
	}
	r := newRunner(f)
	f.Fuzz(func(t *testing.T, lit string) {
		q := "{ echo(s: " + lit + ") }"
		doc, err := parser.ParseQuery(&ast.Source{Input: q})
		if err != nil || len(doc.Operations) != 1 {
			return
		}
		f, ok := doc.Operations[0].SelectionSet[0].(*ast.Field)
		if !ok || f.Name != "echo" || len(f.Arguments) != 1 || f.Arguments[0].Name != "s" {
			return // lit closed the argument list early
		}
		v := f.Arguments[0].Value
		if v.Kind != ast.StringValue && v.Kind != ast.BlockValue {
			return
		}
		rep, err := r.c.Check(q, "", nil)
		if err != nil {
			if !utf8.ValidString(v.Raw) {
				return // refused, rightly
			}
			t.Fatalf("Check refused %q: %v", q, err)
		}
		resp := r.exec(rep.Query, "")
		var data struct{ Echo *string }
		if len(resp.Errors) > 0 || json.Unmarshal(resp.Data, &data) != nil || data.Echo == nil {
			t.Fatalf("graphql-go couldn't run the print %q: %v", rep.Query, resp.Errors)
		}
		// graphql-go's JSON encoder writes invalid UTF-8 as U+FFFD;
		// the value is valid UTF-8 here, so it round-trips exactly.
		if *data.Echo != v.Raw {
			t.Fatalf("literal %q: gqlparser read %q, graphql-go read %q from %q", lit, v.Raw, *data.Echo, rep.Query)
		}
	})
}

// BenchmarkPrint is the printing Check adds; compare with
// BenchmarkParseOnly, which Check also pays.
func BenchmarkPrint(b *testing.B) {
	for _, bc := range []struct{ name, q string }{{"person", personQuery}, {"records", recordsQuery}, {"introspection", graphiqlIntrospection}} {
		b.Run(bc.name, func(b *testing.B) {
			doc, err := parser.ParseQuery(&ast.Source{Input: bc.q})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.q)))
			for b.Loop() {
				if _, err := printDocument(doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
