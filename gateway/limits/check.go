package limits

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
)

// Checker measures queries against one schema and one set of [Limits]. It
// is safe for concurrent use.
type Checker struct {
	l      Limits
	schema *ast.Schema
	// introLists is the number of elements each introspection list field
	// can return for this schema (e.g. "__Schema.types" → number of types).
	introLists map[string]int
}

// Report is what [Checker.Check] measured.
type Report struct {
	// Depth is the deepest field nesting of any operation or fragment,
	// introspection subtrees included.
	Depth int
	// Fields is the number of field selections in the whole document with
	// fragments expanded (each spread counts its fragment's fields again).
	Fields int
	// Cost is the cost of the operation that will run, its introspection
	// subtrees (__schema, __type) excepted.
	Cost int
	// IntrospectionCost is the cost of the introspection subtrees of the
	// operation that will run.
	IntrospectionCost int
	// Introspection is set if the operation that will run selects __schema
	// or __type (__typename does not count).
	Introspection bool
	// Query is the document Check measured, printed canonically; the
	// gateway executes this text, never the caller's. It holds every
	// operation and fragment of the caller's document (graphql-go validates
	// them all) and is at most Limits.MaxQueryBytes long. Empty if Check
	// refused the query. See "Canonical print" in the package
	// documentation.
	Query string
}

// New loads the SDL (the gateway's schema.graphql) and returns a Checker
// that holds queries to l.
func New(sdl string, l Limits) (*Checker, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	s, err := validator.LoadSchema(validator.Prelude, &ast.Source{Name: "schema.graphql", Input: sdl})
	if err != nil {
		return nil, fmt.Errorf("couldn't load the schema: %w", err)
	}
	if s.Query == nil {
		return nil, errors.New("couldn't load the schema: it has no query type")
	}
	return &Checker{l: l, schema: s, introLists: introspectionListSizes(s)}, nil
}

// Limits returns the limits c enforces.
func (c *Checker) Limits() Limits { return c.l }

// Check parses query, measures it and prints it canonically. It returns a
// *[LimitError] if the query is too long (as sent or as printed), does not
// parse, has an unknown or cyclic fragment spread, names no runnable
// operation, exceeds a limit, or holds a literal graphql-go cannot read as
// gqlparser did (an integer outside int64, a float outside float64, a
// string that is not UTF-8); otherwise the [Report], whose Query is the
// text to execute. Check takes time and memory linear in len(query)
// (which it bounds first), whatever the query: fragments are measured once
// each.
//
// Check is not a validator: a field the schema does not have is measured
// as a scalar and left for graphql-go to reject.
func (c *Checker) Check(query, operationName string, variables map[string]any) (Report, error) {
	if len(query) > c.l.MaxQueryBytes {
		return Report{}, limitErr(CodeQueryTooLarge, c.l.MaxQueryBytes, len(query),
			"query is %d bytes long, over the limit of %d", len(query), c.l.MaxQueryBytes)
	}
	doc, err := parser.ParseQuery(&ast.Source{Name: "query", Input: query})
	if err != nil {
		msg := err.Error()
		if strings.Contains(msg, "exceeded maximum nesting depth") {
			return Report{}, limitErr(CodeTooDeep, c.l.MaxDepth, parser.MaxNestingDepth+1,
				"query nests more than %d levels deep, over the limit of %d", parser.MaxNestingDepth, c.l.MaxDepth)
		}
		var gerr *gqlerror.Error
		if errors.As(err, &gerr) {
			msg = gerr.Message
			if len(gerr.Locations) > 0 {
				msg = fmt.Sprintf("%s (line %d, column %d)", msg, gerr.Locations[0].Line, gerr.Locations[0].Column)
			}
		}
		return Report{}, badQuery("couldn't parse the query: %s", msg)
	}
	if len(doc.Operations) == 0 {
		return Report{}, badQuery("the query has no operation")
	}
	var op *ast.OperationDefinition
	switch {
	case operationName != "":
		for _, o := range doc.Operations {
			if o.Name == operationName {
				op = o
				break
			}
		}
		if op == nil {
			return Report{}, badQuery("the query has no operation named %q", operationName)
		}
	case len(doc.Operations) == 1:
		op = doc.Operations[0]
	default:
		return Report{}, badQuery("the query has %d operations: operationName must name one", len(doc.Operations))
	}

	w := walker{
		c:     c,
		vars:  variables,
		vdefs: op.VariableDefinitions,
		frags: make(map[string]*fragment, len(doc.Fragments)),
	}
	for _, f := range doc.Fragments {
		if _, dup := w.frags[f.Name]; dup {
			return Report{}, badQuery("fragment %q is defined twice", f.Name)
		}
		w.frags[f.Name] = &fragment{def: f}
	}

	var rep Report
	var all, runCost agg
	for _, o := range doc.Operations {
		root := c.rootType(o.Operation)
		if root == nil {
			return Report{}, badQuery("the schema has no %s type", o.Operation)
		}
		a, err := w.set(o.SelectionSet, root, true)
		if err != nil {
			return Report{}, err
		}
		all.add(a)
		if o == op {
			runCost = a
		}
	}
	// Fragments no operation spreads: graphql-go still validates them.
	for _, f := range doc.Fragments {
		fr := w.frags[f.Name]
		if fr.state[0] == done || fr.state[1] == done {
			continue
		}
		a, err := w.spread(f.Name, true)
		if err != nil {
			return Report{}, err
		}
		all.add(a)
	}
	rep.Depth = max(all.depth, all.idepth)
	rep.Fields = all.fields
	// A root selection set has no parent field, so edges there (which no
	// root type has) would take the default.
	rep.Cost = runCost.cost(c.l.DefaultListSize)
	rep.IntrospectionCost = runCost.icost
	rep.Introspection = runCost.intro

	switch {
	case all.depth > c.l.MaxDepth:
		return rep, limitErr(CodeTooDeep, c.l.MaxDepth, all.depth,
			"query depth %s exceeds the limit of %d", count(all.depth), c.l.MaxDepth)
	case all.idepth > c.l.MaxIntrospectionDepth:
		return rep, limitErr(CodeTooDeep, c.l.MaxIntrospectionDepth, all.idepth,
			"introspection depth %s exceeds the limit of %d", count(all.idepth), c.l.MaxIntrospectionDepth)
	case rep.Fields > c.l.MaxFields:
		return rep, limitErr(CodeTooManyFields, c.l.MaxFields, rep.Fields,
			"query selects %s fields (aliases and fragment spreads included), over the limit of %d", count(rep.Fields), c.l.MaxFields)
	case rep.Cost > c.l.MaxCost:
		return rep, limitErr(CodeTooCostly, c.l.MaxCost, rep.Cost,
			"query cost %s exceeds the limit of %d (each field costs 1, times the first argument, or %d, of every list around it)",
			count(rep.Cost), c.l.MaxCost, c.l.DefaultListSize)
	case rep.IntrospectionCost > c.l.MaxIntrospectionCost:
		return rep, limitErr(CodeTooCostly, c.l.MaxIntrospectionCost, rep.IntrospectionCost,
			"introspection cost %s exceeds the limit of %d", count(rep.IntrospectionCost), c.l.MaxIntrospectionCost)
	}

	text, err := printDocument(doc)
	if err != nil {
		return rep, err
	}
	// Printing drops comments and most white space but escapes what block
	// strings held raw (a newline becomes \n, DEL \u007F), so a query of
	// long strings can grow; graphql-go's MaxQueryLength then still holds.
	if len(text) > c.l.MaxQueryBytes {
		return rep, limitErr(CodeQueryTooLarge, c.l.MaxQueryBytes, len(text),
			"query is %d bytes long printed canonically (its strings escaped), over the limit of %d", len(text), c.l.MaxQueryBytes)
	}
	rep.Query = text
	return rep, nil
}

func (c *Checker) rootType(op ast.Operation) *ast.Definition {
	switch op {
	case ast.Query:
		return c.schema.Query
	case ast.Mutation:
		return c.schema.Mutation
	case ast.Subscription:
		return c.schema.Subscription
	}
	return nil
}

// agg is the measure of a selection set. Its cost depends linearly on the
// first argument m of the field that owns the set, through the edges lists
// directly in it: cost(m) = a + m·b. Keeping the two coefficients lets a
// fragment on a connection type be measured once, whatever page size the
// fields spreading it ask for.
//
// icost and idepth are the cost and depth of the introspection subtrees,
// kept apart because those have their own limits.
type agg struct {
	fields, depth int
	a, b          int
	icost, idepth int
	intro         bool
}

func (x agg) cost(m int) int { return satAdd(x.a, satMul(m, x.b)) }

func (x *agg) add(y agg) {
	x.fields = satAdd(x.fields, y.fields)
	x.depth = max(x.depth, y.depth)
	x.idepth = max(x.idepth, y.idepth)
	x.a = satAdd(x.a, y.a)
	x.b = satAdd(x.b, y.b)
	x.icost = satAdd(x.icost, y.icost)
	x.intro = x.intro || y.intro
}

type fragState int

const (
	unvisited fragState = iota
	visiting
	done
)

// fragment is a named fragment's measure, taken apart where it is spread
// at the root of an operation ([1]), where __schema and __type are
// introspection, and elsewhere ([0]: a fragment on Query spread in a
// field returning Query), where they are fields like any other, which the
// lists around them multiply and which count towards MaxDepth.
type fragment struct {
	def   *ast.FragmentDefinition
	state [2]fragState
	agg   [2]agg
}

type walker struct {
	c     *Checker
	vars  map[string]any
	vdefs ast.VariableDefinitionList
	frags map[string]*fragment
	path  []string // fragments being measured, for the cycle error
}

// set measures a selection set on type t (nil if unknown).
func (w *walker) set(ss ast.SelectionSet, t *ast.Definition, root bool) (agg, error) {
	var acc agg
	for _, sel := range ss {
		switch s := sel.(type) {
		case *ast.Field:
			a, err := w.field(s, t, root)
			if err != nil {
				return agg{}, err
			}
			acc.add(a)
		case *ast.InlineFragment:
			tt := t
			if s.TypeCondition != "" {
				tt = w.c.schema.Types[s.TypeCondition]
			}
			a, err := w.set(s.SelectionSet, tt, root && tt == t)
			if err != nil {
				return agg{}, err
			}
			acc.add(a)
		case *ast.FragmentSpread:
			a, err := w.spread(s.Name, root)
			if err != nil {
				return agg{}, err
			}
			acc.add(a)
		}
	}
	return acc, nil
}

// spread measures a named fragment spread at the root of an operation or
// elsewhere, once for each: later spreads reuse the result, which keeps
// fragments that spread each other many times linear.
func (w *walker) spread(name string, root bool) (agg, error) {
	f := w.frags[name]
	if f == nil {
		return agg{}, badQuery("unknown fragment %q", name)
	}
	t := w.c.schema.Types[f.def.TypeCondition]
	r := 0
	if root && t != nil && t == w.c.schema.Query {
		r = 1
	}
	switch f.state[r] {
	case done:
		return f.agg[r], nil
	case visiting:
		i := len(w.path) - 1
		for i > 0 && w.path[i] != name {
			i--
		}
		cycle := append(append([]string(nil), w.path[i:]...), name)
		return agg{}, badQuery("fragment cycle: %s", strings.Join(cycle, " → "))
	}
	f.state[r] = visiting
	w.path = append(w.path, name)
	a, err := w.set(f.def.SelectionSet, t, r == 1)
	if err != nil {
		return agg{}, err
	}
	w.path = w.path[:len(w.path)-1]
	f.state[r], f.agg[r] = done, a
	return a, nil
}

// field measures one field selected on type t.
func (w *walker) field(f *ast.Field, t *ast.Definition, root bool) (agg, error) {
	var def *ast.FieldDefinition
	intro := false
	switch {
	case f.Name == "__typename":
	case root && f.Name == "__schema":
		def, intro = &ast.FieldDefinition{Name: f.Name, Type: ast.NonNullNamedType("__Schema", nil)}, true
	case root && f.Name == "__type":
		def, intro = &ast.FieldDefinition{Name: f.Name, Type: ast.NamedType("__Type", nil)}, true
	case t != nil:
		def = t.Fields.ForName(f.Name)
	}
	if def == nil {
		// A scalar, or a field graphql-go will reject: measure what it selects anyway.
		sub, err := w.set(f.SelectionSet, nil, false)
		if err != nil {
			return agg{}, err
		}
		return agg{fields: satAdd(sub.fields, 1), depth: sub.depth + 1, a: satAdd(1, sub.cost(w.c.l.DefaultListSize)),
			icost: sub.icost, idepth: sub.idepth, intro: sub.intro}, nil
	}

	// first is the page size this field asks for, if it takes one; the
	// edges list of the connection it returns inherits it.
	first, hasFirst := 0, false
	if ad := def.Arguments.ForName("first"); ad != nil {
		n, err := w.first(f, ad, t)
		if err != nil {
			return agg{}, err
		}
		first, hasFirst = n, true
	}
	childType := w.c.schema.Types[def.Type.Name()]
	sub, err := w.set(f.SelectionSet, childType, false)
	if err != nil {
		return agg{}, err
	}
	inherited := w.c.l.DefaultListSize
	if hasFirst {
		inherited = first
	}
	children := sub.cost(inherited)

	out := agg{fields: satAdd(sub.fields, 1), depth: sub.depth + 1, icost: sub.icost, idepth: sub.idepth, intro: sub.intro || intro}
	switch {
	case def.Type.Elem == nil: // not a list
		out.a = satAdd(1, children)
	case hasFirst:
		out.a = satAdd(1, satMul(first, children))
	case t != nil && strings.HasPrefix(t.Name, "__") && w.c.introLists[t.Name+"."+def.Name] > 0:
		out.a = satAdd(1, satMul(w.c.introLists[t.Name+"."+def.Name], children))
	case def.Name == "edges":
		// 1 + m·children, with m the first of the field owning this set.
		out.a, out.b = 1, children
	default:
		out.a = satAdd(1, satMul(w.c.l.DefaultListSize, children))
	}
	if intro { // the whole subtree is introspection
		out.icost, out.a, out.b = satAdd(out.icost, out.a), 0, 0
		out.idepth, out.depth = max(out.idepth, out.depth), 0
	}
	return out, nil
}

// first returns the page size a field's first argument asks for: the
// literal, else the variable's value, else the variable's default, else
// the argument's default in the schema, else DefaultListSize.
func (w *walker) first(f *ast.Field, ad *ast.ArgumentDefinition, t *ast.Definition) (int, error) {
	where := f.Name
	if t != nil {
		where = t.Name + "." + f.Name
	}
	var n int64
	var ok bool
	var err error
	if arg := f.Arguments.ForName("first"); arg != nil && arg.Value != nil {
		n, ok, err = w.value(arg.Value, where)
		if err != nil {
			return 0, err
		}
	}
	if !ok && ad.DefaultValue != nil {
		n, ok, err = w.value(ad.DefaultValue, where)
		if err != nil {
			return 0, err
		}
	}
	if !ok {
		return w.c.l.DefaultListSize, nil
	}
	if n > int64(w.c.l.MaxListSize) {
		actual := int(min(n, math.MaxInt32))
		return 0, limitErr(CodeTooCostly, w.c.l.MaxListSize, actual,
			"first: %d on %s exceeds the maximum page size of %d", n, where, w.c.l.MaxListSize)
	}
	// A negative first is graphql-go's or the resolver's to refuse; it
	// cannot make anything more expensive than an empty page.
	return int(max(n, 0)), nil
}

// value resolves an Int argument value; ok is false for null or an absent
// variable.
func (w *walker) value(v *ast.Value, where string) (n int64, ok bool, err error) {
	switch v.Kind {
	case ast.NullValue:
		return 0, false, nil
	case ast.IntValue:
		n, err := strconv.ParseInt(v.Raw, 10, 64)
		if err != nil {
			return 0, false, badQuery("first: %s on %s is not a valid Int", v.Raw, where)
		}
		return n, true, nil
	case ast.Variable:
		if x, present := w.vars[v.Raw]; present {
			if x == nil {
				return 0, false, nil
			}
			n, okv := toInt(x)
			if !okv {
				return 0, false, badQuery("variable $%s (first on %s) is not an Int: %v", v.Raw, where, x)
			}
			return n, true, nil
		}
		if vd := w.vdefs.ForName(v.Raw); vd != nil && vd.DefaultValue != nil && vd.DefaultValue.Kind != ast.Variable {
			return w.value(vd.DefaultValue, where)
		}
		return 0, false, nil
	default:
		return 0, false, badQuery("first on %s is not an Int: %s", where, v.String())
	}
}

// toInt accepts the forms a JSON-decoded Int variable takes.
func toInt(x any) (int64, bool) {
	switch x := x.(type) {
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case float64:
		if x != math.Trunc(x) || math.IsInf(x, 0) || x > math.MaxInt64 || x < math.MinInt64 {
			return 0, false
		}
		return int64(x), true
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	}
	return 0, false
}

// introspectionListSizes bounds, for this schema, how many elements each
// introspection list can hold, so that introspection is costed by what it
// can actually return rather than DefaultListSize per level.
func introspectionListSizes(s *ast.Schema) map[string]int {
	var fields, inputFields, enumValues, args, interfaces, possible int
	for _, d := range s.Types {
		switch d.Kind {
		case ast.Object, ast.Interface:
			fields = max(fields, len(d.Fields))
			for _, f := range d.Fields {
				args = max(args, len(f.Arguments))
			}
		case ast.InputObject:
			inputFields = max(inputFields, len(d.Fields))
		case ast.Enum:
			enumValues = max(enumValues, len(d.EnumValues))
		}
		interfaces = max(interfaces, len(d.Interfaces))
		possible = max(possible, len(s.PossibleTypes[d.Name]))
	}
	for _, d := range s.Directives {
		args = max(args, len(d.Arguments))
	}
	// An empty list costs nothing, but keep every multiplier at least 1 so
	// a schema change cannot make a subtree free by accident.
	one := func(n int) int { return max(n, 1) }
	return map[string]int{
		"__Schema.types":       one(len(s.Types)),
		"__Schema.directives":  one(len(s.Directives)),
		"__Type.fields":        one(fields),
		"__Type.inputFields":   one(inputFields),
		"__Type.enumValues":    one(enumValues),
		"__Type.interfaces":    one(interfaces),
		"__Type.possibleTypes": one(possible),
		"__Field.args":         one(args),
		"__Directive.args":     one(args),
	}
}

// Counts saturate at ceiling instead of overflowing; every limit is far
// below it.
const ceiling = 1 << 60

// count formats a measure for an error message.
func count(n int) string {
	if n >= ceiling {
		return "over 10^18"
	}
	return strconv.Itoa(n)
}

func satAdd(a, b int) int {
	if a+b > ceiling || a+b < 0 {
		return ceiling
	}
	return a + b
}

func satMul(a, b int) int {
	if a == 0 || b == 0 {
		return 0
	}
	if a > ceiling/b {
		return ceiling
	}
	return a * b
}
