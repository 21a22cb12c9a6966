package limits

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	graphql "github.com/graph-gophers/graphql-go"
	gqlerrors "github.com/graph-gophers/graphql-go/errors"
	gqllog "github.com/graph-gophers/graphql-go/log"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// This file holds the oracle for "one measurement of what runs": a small
// schema executed by graphql-go, whose resolvers return every element the
// cost model assumes a list may hold, so that what graphql-go answers can
// be counted against what Check measured.

var callersText = flag.Bool("limits.callers-text", false,
	"FuzzCheckerMeasuresWhatRuns executes the caller's text instead of Report.Query, to show that the target catches the parser differential")

// runSDL has what the gateway's schema has that matters to the measure:
// lists with and without first (with and without a default), a Relay
// connection, nested objects and lists of them, an interface and a union
// for fragments, String, Float, Int, enum, input object and custom scalar
// arguments; and, which the gateway's has not, a field returning Query.
const runSDL = `
schema { query: Query }

"A custom scalar, as the gateway's Uint64."
scalar Uint64

enum Color { RED GREEN }

input Filter { tag: String, min: Uint64, colors: [Color!], sizes: [Uint64!] }

type Query {
  items(first: Int = 5, tag: String, min: Uint64): [Item!]!
  item(id: ID, size: Uint64): Item
  conn(first: Int = 3, after: String): ItemConnection!
  search(text: String!, first: Int = 4): [SearchResult!]!
  nodes: [Node!]!
  echo(s: String, u: Uint64, f: Float, i: Int, l: [Int!], o: Filter, e: Color): String!
  "Query again, as some schemas offer (Relay's viewer): __schema and __type below the root."
  peers: [Query!]!
}

interface Node { id: ID! name: String! }

type Item implements Node {
  id: ID!
  name: String!
  size: Uint64!
  tags: [String!]!
  children(first: Int): [Item!]!
  owner: Person!
  related(first: Int = 2): ItemConnection!
}

type Person implements Node {
  id: ID!
  name: String!
  items(first: Int = 2): [Item!]!
  friends: [Person!]!
}

union SearchResult = Item | Person

type ItemConnection { edges: [ItemEdge!]! pageInfo: PageInfo! totalCount: Int! }
type ItemEdge { cursor: String! node: Item! }
type PageInfo { hasNextPage: Boolean! endCursor: String }
`

// runList is how many elements a list without first returns: as many as
// the cost model assumes (DefaultListSize).
var runList = Default().DefaultListSize

// page is how many elements a list taking first returns: first, or def if
// first is absent (an argument with a default reaches a resolver as a
// non-pointer: graphql-go packs the default, and refuses an explicit null).
// Capped far above MaxListSize, so that a checker letting a larger first
// through is caught rather than running out of memory.
func page(first *int32, def int) int {
	n := def
	if first != nil {
		n = int(*first)
	}
	return min(max(n, 0), 1000)
}

type runQuery struct{}

type runItem struct{ i int }
type runPerson struct{ i int }
type runConn struct{ n int }
type runEdge struct{ i int }
type runPageInfo struct{}

// runNode resolves both Node and SearchResult.
type runNode struct {
	item   *runItem
	person *runPerson
}

type runFilter struct {
	Tag    *string
	Min    *runUint64
	Colors *[]string
	Sizes  *[]runUint64
}

func items(n int) []*runItem {
	out := make([]*runItem, n)
	for i := range out {
		out[i] = &runItem{i}
	}
	return out
}

func nodes(n int) []*runNode {
	out := make([]*runNode, n)
	for i := range out {
		if i%2 == 0 {
			out[i] = &runNode{item: &runItem{i}}
		} else {
			out[i] = &runNode{person: &runPerson{i}}
		}
	}
	return out
}

func (*runQuery) Items(a struct {
	First int32
	Tag   *string
	Min   *runUint64
}) []*runItem {
	return items(page(&a.First, 5))
}

func (*runQuery) Item(a struct {
	ID   *graphql.ID
	Size *runUint64
}) *runItem {
	return &runItem{}
}

func (*runQuery) Conn(a struct {
	First int32
	After *string
}) *runConn {
	return &runConn{page(&a.First, 3)}
}

func (*runQuery) Search(a struct {
	Text  string
	First int32
}) []*runNode {
	return nodes(page(&a.First, 4))
}

func (*runQuery) Nodes() []*runNode { return nodes(runList) }

func (*runQuery) Peers() []*runQuery {
	out := make([]*runQuery, runList)
	for i := range out {
		out[i] = &runQuery{}
	}
	return out
}

func (*runQuery) Echo(a struct {
	S *string
	U *runUint64
	F *float64
	I *int32
	L *[]int32
	O *runFilter
	E *string
}) string {
	if a.S != nil {
		return *a.S // so tests can see the string graphql-go read
	}
	return "ok"
}

func (it *runItem) ID() graphql.ID    { return graphql.ID(fmt.Sprint("item-", it.i)) }
func (it *runItem) Name() string      { return "item" }
func (it *runItem) Size() runUint64   { return runUint64(it.i) }
func (it *runItem) Tags() []string    { return make([]string, runList) }
func (it *runItem) Owner() *runPerson { return &runPerson{it.i} }
func (it *runItem) Children(a struct{ First *int32 }) []*runItem {
	return items(page(a.First, runList))
}
func (it *runItem) Related(a struct{ First int32 }) *runConn {
	return &runConn{page(&a.First, 2)}
}

func (p *runPerson) ID() graphql.ID { return graphql.ID(fmt.Sprint("person-", p.i)) }
func (p *runPerson) Name() string   { return "person" }
func (p *runPerson) Items(a struct{ First int32 }) []*runItem {
	return items(page(&a.First, 2))
}
func (p *runPerson) Friends() []*runPerson {
	out := make([]*runPerson, runList)
	for i := range out {
		out[i] = &runPerson{i}
	}
	return out
}

func (c *runConn) Edges() []*runEdge {
	out := make([]*runEdge, c.n)
	for i := range out {
		out[i] = &runEdge{i}
	}
	return out
}
func (c *runConn) PageInfo() *runPageInfo { return &runPageInfo{} }
func (c *runConn) TotalCount() int32      { return int32(c.n) }

func (e *runEdge) Cursor() string { return strconv.Itoa(e.i) }
func (e *runEdge) Node() *runItem { return &runItem{e.i} }

func (*runPageInfo) HasNextPage() bool  { return false }
func (*runPageInfo) EndCursor() *string { return nil }

func (n *runNode) ID() graphql.ID {
	if n.item != nil {
		return n.item.ID()
	}
	return n.person.ID()
}
func (n *runNode) Name() string {
	if n.item != nil {
		return n.item.Name()
	}
	return n.person.Name()
}
func (n *runNode) ToItem() (*runItem, bool)     { return n.item, n.item != nil }
func (n *runNode) ToPerson() (*runPerson, bool) { return n.person, n.person != nil }

// runUint64 is a custom scalar, as the gateway's Uint64: graphql-go
// deserializes a literal (and panics on one it cannot hold) before
// UnmarshalGraphQL sees it, so any decoding will do here.
type runUint64 uint64

func (runUint64) ImplementsGraphQLType(name string) bool { return name == "Uint64" }

func (u *runUint64) UnmarshalGraphQL(input any) error {
	n, err := strconv.ParseUint(fmt.Sprint(input), 10, 64)
	if err != nil {
		return fmt.Errorf("Uint64 must be a non-negative integer, got %v", input)
	}
	*u = runUint64(n)
	return nil
}

func (u runUint64) MarshalJSON() ([]byte, error) { return json.Marshal(uint64(u)) }

// runner is a Checker and a graphql-go schema over runSDL.
type runner struct {
	c      *Checker
	schema *graphql.Schema
}

// newRunner sets graphql-go's own bounds as the package documentation
// recommends, and no MaxSelections or OverlapValidationLimit (their
// defaults), so that graphql-go executes everything Check accepts.
func newRunner(t testing.TB) *runner {
	t.Helper()
	l := Default()
	c, err := New(runSDL, l)
	if err != nil {
		t.Fatal(err)
	}
	s, err := graphql.ParseSchema(runSDL, &runQuery{},
		graphql.MaxDepth(max(l.MaxDepth, l.MaxIntrospectionDepth)),
		graphql.MaxQueryLength(l.MaxQueryBytes),
		// Panics graphql-go recovers come back as "panic occurred"
		// errors, which checkRun looks for; no need for the stacks.
		graphql.Logger(gqllog.LoggerFunc(func(context.Context, any) {})),
	)
	if err != nil {
		t.Fatal(err)
	}
	return &runner{c: c, schema: s}
}

// runVars are the variables every run sends, as the gateway passes them
// after decoding JSON (int32 for small integers).
func runVars() map[string]any {
	return map[string]any{"n": int32(7), "s": "x", "u": int32(5), "b": true}
}

// exec runs text with graphql-go. graphql-go writes variables' defaults
// into the map it is given, hence a fresh one.
func (r *runner) exec(text, op string) *graphql.Response {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return r.schema.Exec(ctx, text, op, runVars())
}

// executed is the work a response shows: its object keys, its deepest
// object nesting (the data object is level 1, so a top-level scalar field
// is depth 1, as in [Report].Depth), and its distinct key paths with list
// indices ignored.
type executed struct {
	Keys, Depth, Paths int
}

func measureResponse(data []byte) (executed, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	paths := map[string]bool{}
	var e executed
	var walk func(path string, depth int) error
	walk = func(path string, depth int) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			e.Depth = max(e.Depth, depth+1)
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				e.Keys++
				p := path + "\x00" + k.(string)
				paths[p] = true
				if err := walk(p, depth+1); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		case json.Delim('['):
			for dec.More() {
				if err := walk(path, depth); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		}
		return nil
	}
	if err := walk("", 0); err != nil {
		return e, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return e, fmt.Errorf("trailing data after the response's data: %v", err)
	}
	e.Paths = len(paths)
	return e, nil
}

// checkRun is the property: if Check accepts q, graphql-go executes no
// more than Check measured, reads Report.Query without a syntax error, and
// Check measures Report.Query exactly as it measured q.
func (r *runner) checkRun(t *testing.T, q, op string) {
	t.Helper()
	rep, err := r.c.Check(q, op, runVars())
	if err != nil {
		var le *LimitError
		if !errors.As(err, &le) {
			t.Fatalf("err %v is a %T, not a *LimitError", err, err)
		}
		return
	}
	rep2, err := r.c.Check(rep.Query, op, runVars())
	if err != nil || rep2 != rep {
		t.Fatalf("Check of its own print differs:\nprint %q\n%+v, %v\nwant %+v", rep.Query, rep2, err, rep)
	}
	text := rep.Query
	if *callersText {
		text = q
	}
	resp := r.exec(text, op)
	for _, e := range resp.Errors {
		if errors.Is(e.Err, gqlerrors.ErrSyntax) && !*callersText && !hasFragmentVariables(q) {
			t.Errorf("graphql-go cannot read the print %q: %v", text, e)
		}
		if strings.Contains(e.Message, "panic occurred") && !*callersText {
			t.Errorf("graphql-go panicked on the print %q: %v", text, e)
		}
		if e.Rule == "MaxDepthExceeded" || strings.Contains(e.Message, "maximum allowed query length") {
			t.Errorf("graphql-go's own bound refused what Check accepted (%+v): %v", rep, e)
		}
	}
	if len(resp.Data) == 0 || string(resp.Data) == "null" {
		return
	}
	got, err := measureResponse(resp.Data)
	if err != nil {
		t.Fatalf("couldn't measure the response %s: %v", resp.Data, err)
	}
	if got.Keys > rep.Cost+rep.IntrospectionCost || got.Depth > rep.Depth || got.Paths > rep.Fields {
		t.Fatalf("graphql-go executed more than Check measured:\nquery %q\nran   %q\nmeasured %+v\nexecuted %+v (keys ≤ Cost+IntrospectionCost, depth ≤ Depth, paths ≤ Fields)",
			q, text, rep, got)
	}
}

// hasFragmentVariables reports whether q uses gqlparser's experimental
// fragment variables, which graphql-go does not parse.
func hasFragmentVariables(q string) bool {
	doc, err := parser.ParseQuery(&ast.Source{Input: q})
	if err != nil {
		return false
	}
	for _, f := range doc.Fragments {
		if len(f.VariableDefinition) > 0 {
			return true
		}
	}
	return false
}

// smuggle returns the security review's query: n aliased selections sel
// that gqlparser reads as part of a block string, the argument head opens
// (gqlparser goes on past \"""), and graphql-go as selections (it ends
// the block string there). The line comment hides the end of gqlparser's
// string, and tail after it, from graphql-go; both read head and tail as
// one field with its arguments and selection.
func smuggle(head, tail, sel string, n int) string {
	var b strings.Builder
	b.WriteString("{ " + head + `"""\"""` + tail + "\n")
	for i := range n {
		fmt.Fprintf(&b, "  r%d: %s\n", i, sel)
	}
	b.WriteString("}\n# " + `"""` + tail + " }\n")
	return b.String()
}

var runSeeds = []string{
	`{ items { id name } }`,
	`{ items(first: 100) { id children(first: 3) { id owner { name } } } }`,
	`query($n: Int) { items(first: $n) { id } conn(first: $n) { edges { cursor node { id } } pageInfo { hasNextPage } } }`,
	`query Q($n: Int = 4) { a: items(first: $n) { ...I } b: items { ...I } } fragment I on Item { id tags related { edges { node { name } } totalCount } }`,
	`{ search(text: "x", first: 10) { __typename ... on Item { id size } ... on Person { name friends { id } } } }`,
	`{ nodes { id ...P ... on Item { children { id } } } } fragment P on Person { items { ...N } } fragment N on Node { name }`,
	`{ a: items { id } b: items { id } c: items(first: 1) { id } d: __typename }`,
	`{ echo(s: """block
	  string""", u: 5, f: 1.5e3, i: -3, l: [1, 2], o: {tag: "t", min: 3, colors: [RED], sizes: [1, 2]}, e: GREEN) }`,
	`{ echo(s: """a\"""b""") }`,
	smuggle("item(id: ", ") { id }", `items(first: 100) { id name tags children { id } }`, 3),
	// One deletion from the review's query: for graphql-go, the selection
	// is commented out.
	"{ item(id: \"\"\"\\\"\"\") { id }\n  # a: items(first: 100) { id }\n}\n# \"\"\") { id } }\n",
	`{ echo(s: "\u00e9\uD83D\uDE00\u{1F600}\n\t\"\\\/\b\f") }`,
	"\ufeff{ items { id } }",
	"{\ufeff items { # comment \"\"\" \n id } }",
	"{ items , { , id , name , } , }",
	"{ items { id } }\r\n# trailing comment",
	`{ echo(s: "日本語 ñ") }`,
	`query A { items { id } } query B { nodes { id } }`,
	`{ items @include(if: true) { id @skip(if: false) } }`,
	`query($b: Boolean = true) { items @include(if: $b) { id } }`,
	`{ __typename __type(name: "Item") { name fields { name type { name ofType { name } } } } }`,
	`{ __schema { types { name fields { name } } directives { name args { name } } } }`,
	`{ echo(u: 9223372036854775807) }`,
	`{ echo(u: 9223372036854775808) }`,
	`query($u: Uint64 = 99999999999999999999) { echo(u: $u) }`,
	`{ echo(f: 1e400) }`,
	`{ echo(l: [0x10]) }`,
	`{ items { id } } // { nodes { id } }`,
	`fragment F($x: Int) on Query { items(first: $x) { id } } { ...F }`,
	`{ peers { __typename ...I peers { __type(name: "Item") { fields { name } } } } } fragment I on Query { __schema { types { name } } }`,
}

// FuzzCheckerMeasuresWhatRuns checks "one measurement of what runs": for
// any query Check accepts, graphql-go, executing Report.Query against
// runSDL with resolvers that fill every list, answers with no more object
// keys than Report.Cost (+IntrospectionCost), no deeper object nesting
// than Report.Depth and no more distinct key paths than Report.Fields.
// No slack is needed: the cost model counts __typename, and a field
// graphql-go answers with null or drops on error only makes the response
// smaller.
//
// Run with -limits.callers-text to execute the caller's text instead: the
// seeds then fail at once (the review's smuggled selections); without
// that seed, fuzzing finds the smuggling from the seed one deletion away
// within minutes.
func FuzzCheckerMeasuresWhatRuns(f *testing.F) {
	for _, s := range runSeeds {
		f.Add(s, "")
	}
	f.Add(`query A { items { id } } query B { nodes { id } }`, "B")
	r := newRunner(f)
	f.Fuzz(func(t *testing.T, q, op string) {
		if len(q) > Default().MaxQueryBytes {
			// Refused by length before parsing: nothing runs.
			_, err := r.c.Check(q, op, runVars())
			if le, ok := errors.AsType[*LimitError](err); !ok || le.Code != CodeQueryTooLarge {
				t.Fatalf("a %d-byte query: %v, want %s", len(q), err, CodeQueryTooLarge)
			}
			return
		}
		r.checkRun(t, q, op)
	})
}

// TestBlockStringSmuggling is the security review's query: 95 aliased
// records(first: 100) selections that gqlparser reads as part of a block
// string and graphql-go as selections. Check must measure what graphql-go
// will run: it does, because what runs is Report.Query.
func TestBlockStringSmuggling(t *testing.T) {
	t.Run("gateway schema", func(t *testing.T) {
		sel := `records(department: "tax", type: "parcel", first: 100) { edges { cursor node { key leaf time op fields { name value disclosure digest redacted } } } }`
		q := smuggle(`record(department: `, `, type: "t", key: []) { leaf }`, sel, 95)
		c := newChecker(t, Default())
		rep, err := timedCheck(t, c, "smuggled records", q, "", nil)
		if err != nil {
			// Refusing would be fine too; today gqlparser's reading is a
			// single cheap field, and that is what is printed.
			t.Fatalf("refused: %v", err)
		}
		if rep.Cost != 2 || rep.Depth != 2 || rep.Fields != 2 {
			t.Errorf("measured %+v, want record { leaf }: cost 2, depth 2, fields 2", rep)
		}
		doc, err := parser.ParseQuery(&ast.Source{Input: rep.Query})
		if err != nil || len(doc.Operations) != 1 || len(doc.Operations[0].SelectionSet) != 1 {
			t.Fatalf("the print %q does not hold one selection: %v", rep.Query, err)
		}
		if strings.Contains(rep.Query, `"""`) {
			t.Errorf("the print %q keeps a block string", rep.Query)
		}
		// graphql-go, held to depth 4, shows what it reads: the caller's
		// text has fields at depth 6 (records edges node fields name), the
		// print only record { leaf }.
		s, err := graphql.ParseSchema(loadSDL(t), nil, graphql.UseStringDescriptions(), graphql.MaxDepth(4))
		if err != nil {
			t.Fatal(err)
		}
		if errs := s.Validate(q); len(errs) == 0 || errs[0].Rule != "MaxDepthExceeded" {
			t.Errorf("graphql-go on the caller's text: %v, want the smuggled selections over depth 4", errs)
		}
		if errs := s.Validate(rep.Query); len(errs) != 0 {
			t.Errorf("graphql-go on the print: %v", errs)
		}
	})
	t.Run("executed", func(t *testing.T) {
		r := newRunner(t)
		q := smuggle("item(id: ", ") { id }", `items(first: 100) { id name }`, 95)
		rep, err := r.c.Check(q, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		caller, err := measureResponse(r.exec(q, "").Data)
		if err != nil {
			t.Fatal(err)
		}
		printed, err := measureResponse(r.exec(rep.Query, "").Data)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d bytes measured %+v; graphql-go executing the caller's text: %+v; the print: %+v", len(q), rep, caller, printed)
		if caller.Keys != 2+95*(1+100*2) {
			t.Errorf("the caller's text ran %+v: the differential is gone (graphql-go upgraded?)", caller)
		}
		if printed.Keys > rep.Cost || printed.Depth > rep.Depth || printed.Paths > rep.Fields {
			t.Errorf("the print ran %+v, more than measured %+v", printed, rep)
		}
	})
}

// TestOverLimitsHoweverSpelled: a query over a limit is refused by that
// limit whatever its strings, comments, commas, BOMs, line ends and
// fragments look like.
func TestOverLimitsHoweverSpelled(t *testing.T) {
	const rec = `record(department: "tax", type: "parcel", key: []) { leaf }`
	const page = `records(department: "tax", type: "parcel", first: 100)`
	var bomb strings.Builder // 5 × (1 + 1 + 100·(1 + 1 + 10·2)) = 11 010
	for i := range 5 {
		fmt.Fprintf(&bomb, " a%d: %s { edges { node { fields { name value } } } }", i, page)
	}
	var wide strings.Builder // 501 fields
	for i := range 500 {
		fmt.Fprintf(&wide, " a%d: __typename", i)
	}
	bases := []struct {
		name, q, code string
	}{
		{"cost", "{ " + rec + bomb.String() + " }", CodeTooCostly},
		{"cost through fragments", "{ " + rec + " ...Q } fragment Q on Query {" +
			strings.ReplaceAll(bomb.String(), "{ edges { node { fields { name value } } } }", "{ ...C }") +
			" } fragment C on RecordConnection { edges { ...E } } fragment E on RecordEdge { node { ...R } } fragment R on Record { fields { name value } }",
			CodeTooCostly},
		{"cost through inline fragments", "{ " + rec + " ... on Query {" +
			strings.ReplaceAll(bomb.String(), "{ edges { node { fields { name value } } } }",
				"{ ... on RecordConnection { edges { ... { node { ... @include(if: true) { fields { name value } } } } } } }") +
			" } }", CodeTooCostly},
		{"cost through a variable", "query($n: Int = 100) { " + rec + strings.ReplaceAll(bomb.String(), "first: 100", "first: $n") + " }", CodeTooCostly},
		{"depth", "{ " + rec + " " + nest("a", "b", 13)[2:], CodeTooDeep},
		{"fields", "{ " + rec + wide.String() + " }", CodeTooManyFields},
	}
	spellings := []struct {
		name    string
		respell func(string) string
	}{
		{"as is", func(q string) string { return q }},
		{"block strings", func(q string) string {
			return strings.NewReplacer(`"tax"`, `"""tax"""`, `"parcel"`, "\"\"\"\n    par\\\"\"\"cel\n  \"\"\"").Replace(q)
		}},
		{"escapes", func(q string) string {
			return strings.NewReplacer(`"tax"`, `"\u0074\u{61}x\n\"\\\/"`, `"parcel"`, `"\uD83D\uDE00\u0000"`).Replace(q)
		}},
		{"unicode", func(q string) string { return strings.ReplaceAll(q, `"tax"`, `"税務 ñ 😀"`) }},
		{"comments, commas, CRLF", func(q string) string {
			return strings.ReplaceAll(q, " ", ",# \"\"\" \\\"\"\" // */ c\r\n\t,")
		}},
		{"BOMs", func(q string) string { return "\ufeff" + strings.ReplaceAll(q, " ", "\ufeff") }},
	}
	l := Default()
	l.MaxQueryBytes, l.MaxBodyBytes = 1<<20, 1<<20 // so the spelling's length does not decide
	c := newChecker(t, l)
	for _, b := range bases {
		for _, sp := range spellings {
			t.Run(b.name+"/"+sp.name, func(t *testing.T) {
				q := sp.respell(b.q)
				_, err := c.Check(q, "", nil)
				le := wantLimitError(t, err, b.code)
				t.Logf("%d bytes: %v", len(q), le)
			})
		}
	}
}

// TestOutOfRangeLiterals: Check refuses the literals graphql-go v1.11.0
// would panic on, wherever they are; the panics are shown on the caller's
// text.
func TestOutOfRangeLiterals(t *testing.T) {
	r := newRunner(t)
	for _, tc := range []struct {
		name, q string
		// graphql-go on the caller's text: "panic" out of Exec,
		// "recovered" as a "panic occurred" error, "" no panic (it
		// refuses the literal itself, or never deserializes it).
		graphqlGo string
	}{
		{"Uint64 argument, the review's case", `{ echo(u: 9223372036854775808) }`, "recovered"},
		{"Float argument", `{ echo(f: 9223372036854775808) }`, "recovered"},
		{"Uint64 argument, float", `{ echo(u: 1e400) }`, "recovered"},
		{"Float argument, float", `{ echo(f: 1e400) }`, ""},
		{"Int argument", `{ echo(i: -9223372036854775809) }`, ""},
		{"nested in an input object's list", `{ echo(o: {sizes: [1, 99999999999999999999]}) }`, "recovered"},
		{"variable default", `query($u: Uint64 = 99999999999999999999) { echo(u: $u) }`, "panic"},
		{"overlapping fields' arguments", `{ a: echo(i: 99999999999999999999) a: echo(i: 1) }`, "panic"},
		{"directive argument", `{ echo @include(if: 99999999999999999999) }`, ""},
		{"unused fragment", `{ echo } fragment F on Query { echo(u: 99999999999999999999) }`, ""},
		{"operation not run", `query A { echo } query B { echo(u: 99999999999999999999) }`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := ""
			if strings.HasPrefix(tc.q, "query A") {
				op = "A"
			}
			_, err := r.c.Check(tc.q, op, nil)
			le := wantLimitError(t, err, CodeBadQuery)
			if !strings.Contains(le.Msg, "literal") || !strings.Contains(le.Msg, "is out of range") {
				t.Errorf("error %q", le.Msg)
			}
			got := ""
			func() {
				defer func() {
					if v := recover(); v != nil {
						got = "panic"
					}
				}()
				resp := r.schema.Exec(t.Context(), tc.q, op, nil)
				for _, e := range resp.Errors {
					if strings.Contains(e.Message, "panic occurred") {
						got = "recovered"
					}
				}
			}()
			if got != tc.graphqlGo {
				t.Errorf("graphql-go on the caller's text: %q, want %q", got, tc.graphqlGo)
			}
		})
	}
	for _, q := range []string{`{ echo(u: 9223372036854775807, f: -9223372036854775808) }`, `{ echo(u: 1e-400, f: 1.7976931348623157e308) }`} {
		if _, err := r.c.Check(q, "", nil); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
}

// TestIntrospectionBelowTheRoot: below a field returning Query, __schema
// and __type are ordinary fields, multiplied by the lists around them,
// also when a fragment on Query brings them (a fragment used to be
// measured once, as at the root).
func TestIntrospectionBelowTheRoot(t *testing.T) {
	r := newRunner(t)
	for _, q := range []string{
		`{ peers { __schema { types { name } } } }`,
		`{ peers { ...I } } fragment I on Query { __schema { types { name } } }`,
		`{ ...I peers { peers { ...I } } } fragment I on Query { __type(name: "Item") { fields { name } } }`,
		`{ peers { ... on Query { __schema { queryType { name } } } } }`,
	} {
		rep, err := r.c.Check(q, "", nil)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if rep.Cost <= 10 {
			t.Errorf("%s: cost %d, want the introspection below the root in it", q, rep.Cost)
		}
		r.checkRun(t, q, "")
	}
}

// TestRunnerFillsEveryList checks the oracle: on a query without
// fragments on abstract types (which the cost model counts for every
// possible type), what graphql-go answers is exactly what Check measured,
// so the resolvers return lists as full as the cost model assumes.
func TestRunnerFillsEveryList(t *testing.T) {
	r := newRunner(t)
	q := `query($n: Int) {
	  items(first: 3) {
	    id name size tags
	    children { id owner { id name items { id } friends { id } } }
	    few: children(first: $n) { id }
	    related { edges { cursor node { id } } pageInfo { hasNextPage endCursor } totalCount }
	  }
	  item(id: "x") { id }
	  conn { edges { node { name } } }
	  nodes { id name }
	  search(text: "x") { __typename }
	  echo(s: "x")
	  peers { __typename items(first: 1) { id } }
	}`
	rep, err := r.c.Check(q, "", runVars())
	if err != nil {
		t.Fatal(err)
	}
	resp := r.exec(rep.Query, "")
	if len(resp.Errors) > 0 {
		t.Fatal(resp.Errors)
	}
	got, err := measureResponse(resp.Data)
	if err != nil {
		t.Fatal(err)
	}
	if got != (executed{Keys: rep.Cost, Depth: rep.Depth, Paths: rep.Fields}) {
		t.Errorf("measured %+v, executed %+v", rep, got)
	}
}
