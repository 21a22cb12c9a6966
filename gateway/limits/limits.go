package limits

import (
	"errors"
	"fmt"
	"time"
)

// Limits bounds what one GraphQL request may ask of the gateway. The zero
// value is not useful; start from [Default].
type Limits struct {
	// MaxBodyBytes is the largest HTTP request body the gateway reads
	// (query, operation name and variables, as JSON). Larger bodies are
	// answered 413 before anything is parsed (a declared length over it
	// before the body is read).
	MaxBodyBytes int64

	// MaxQueryBytes is the longest query text, in bytes. It is checked
	// before the query is parsed, so it also bounds the parser's time and
	// memory, and again on the canonical print ([Report].Query), which is
	// what graphql-go is given.
	MaxQueryBytes int

	// MaxDepth is the deepest field nesting, counting every field level
	// (so records { edges { node { fields { name } } } } has depth 5) and
	// looking through named and inline fragments. The introspection
	// subtrees (__schema, __type) are held to MaxIntrospectionDepth
	// instead; the rest of a query that uses introspection still to
	// MaxDepth.
	MaxDepth int

	// MaxIntrospectionDepth is MaxDepth for the __schema and __type
	// subtrees. The introspection query of GraphiQL and graphql-js nests
	// 13 levels (its TypeRef fragment follows ofType seven times).
	MaxIntrospectionDepth int

	// MaxFields is the most field selections a document may make, counting
	// every alias and every field a fragment brings in each time it is
	// spread, over all operations and unused fragments of the document
	// (graphql-go validates all of them, including ones it won't run).
	MaxFields int

	// MaxCost is the highest cost the executed operation may have; see the
	// package documentation for the cost model.
	MaxCost int

	// MaxIntrospectionCost is MaxCost for the __schema and __type
	// subtrees, which are answered from memory. Their lists are costed by
	// the most elements each can hold in this schema (every type, the
	// widest type's fields …), a loose upper bound: GraphiQL's
	// introspection query costs 113 644 against the gateway's schema
	// though it returns a few thousand values, while each further level of
	// types { fields { type { fields … multiplies the cost by a dozen.
	MaxIntrospectionCost int

	// DefaultListSize is the multiplier for a list field that takes no
	// first argument (history, grants, fields, departments …).
	DefaultListSize int

	// MaxListSize is the largest first argument the gateway accepts; a
	// larger one is rejected with TOO_COSTLY rather than silently clamped,
	// so a client never mistakes a short page for the end of the data.
	MaxListSize int

	// QueryTimeout bounds the execution of one query (the gateway derives
	// the request's context from it). Not used by [Checker].
	QueryTimeout time.Duration
}

// Default returns the limits the gateway runs with unless configured
// otherwise. They admit the queries the analysts' tools send (the
// costliest, a person query asking every field of every record, costs
// 6 223; a records page of 100 with every field 6 505; GraphiQL's
// introspection query passes) and reject the abuse cases of the gateway
// issue in microseconds. DefaultListSize is 10 rather than records' page
// size of 20 because person → departments → records → fields nests three
// lists without first: at 20 the full person query would cost about
// 45 000.
func Default() Limits {
	return Limits{
		MaxBodyBytes:          256 << 10, // room for variables and a signed grant envelope
		MaxQueryBytes:         16 << 10,  // hand-written queries are < 2 KiB; GraphiQL's introspection query ~1.5 KiB
		MaxDepth:              12,
		MaxIntrospectionDepth: 20, // GraphiQL's query nests 13; newer graphql-js follow ofType further
		MaxFields:             500,
		MaxCost:               10_000,
		MaxIntrospectionCost:  500_000, // GraphiQL's introspection query: 113 644
		DefaultListSize:       10,
		MaxListSize:           100,
		QueryTimeout:          10 * time.Second,
	}
}

// Validate reports whether every limit is set to something usable.
func (l Limits) Validate() error {
	var errs []error
	pos := func(name string, v int64) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("limits: %s must be positive, got %d", name, v))
		}
	}
	pos("MaxBodyBytes", l.MaxBodyBytes)
	pos("MaxQueryBytes", int64(l.MaxQueryBytes))
	pos("MaxDepth", int64(l.MaxDepth))
	pos("MaxIntrospectionDepth", int64(l.MaxIntrospectionDepth))
	pos("MaxFields", int64(l.MaxFields))
	pos("MaxCost", int64(l.MaxCost))
	pos("MaxIntrospectionCost", int64(l.MaxIntrospectionCost))
	pos("DefaultListSize", int64(l.DefaultListSize))
	pos("MaxListSize", int64(l.MaxListSize))
	pos("QueryTimeout", int64(l.QueryTimeout))
	if l.MaxListSize > 0 && l.DefaultListSize > l.MaxListSize {
		errs = append(errs, fmt.Errorf("limits: DefaultListSize %d exceeds MaxListSize %d", l.DefaultListSize, l.MaxListSize))
	}
	if l.MaxBodyBytes > 0 && l.MaxQueryBytes > 0 && int64(l.MaxQueryBytes) > l.MaxBodyBytes {
		errs = append(errs, fmt.Errorf("limits: MaxQueryBytes %d exceeds MaxBodyBytes %d", l.MaxQueryBytes, l.MaxBodyBytes))
	}
	return errors.Join(errs...)
}

// Error codes of [LimitError], as they appear in a GraphQL error's
// extensions.code.
const (
	CodeQueryTooLarge = "QUERY_TOO_LARGE"
	CodeTooDeep       = "TOO_DEEP"
	CodeTooManyFields = "TOO_MANY_FIELDS"
	CodeTooCostly     = "TOO_COSTLY"
	CodeBadQuery      = "BAD_QUERY"
	CodeBodyTooLarge  = "BODY_TOO_LARGE" // the body is over MaxBodyBytes (HTTP 413)
)

// LimitError is a query the gateway refuses to run. Code is one of the
// Code constants; Limit and Actual are the limit and the measured value
// (both 0 for BAD_QUERY). Actual saturates at a large value rather than
// overflow, so it may understate an exponential query.
type LimitError struct {
	Code   string
	Limit  int
	Actual int
	Msg    string
}

func (e *LimitError) Error() string { return e.Msg }

func limitErr(code string, limit, actual int, format string, args ...any) *LimitError {
	return &LimitError{Code: code, Limit: limit, Actual: actual, Msg: fmt.Sprintf(format, args...)}
}

func badQuery(format string, args ...any) *LimitError {
	return &LimitError{Code: CodeBadQuery, Msg: fmt.Sprintf(format, args...)}
}
