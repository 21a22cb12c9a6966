// Package limits keeps abusive requests away from the gateway's GraphQL
// engine: the request limits ([Limits], among them the body size the
// gateway reads), per-identity and per-address rate limits ([RateLimiter]), and a pre-check of every query
// ([Checker.Check]) for length, depth, field count and cost, run before
// graphql-go parses and validates it. graphql-go's validation is
// super-linear in the number of fields (its overlapping-fields rule
// compares them pairwise), so a query with 10 000 aliases must be refused
// before it gets there; Check itself is linear in the query's length, which
// it bounds first.
//
// # Order of checks
//
// Per request, the gateway applies: a declared body size over
// MaxBodyBytes (413), authentication from the headers, rate limit (429
// with Retry-After; by identity, or by [RemoteKey] for unauthenticated
// callers), the body read up to MaxBodyBytes (413), then Check on the query text (QUERY_TOO_LARGE
// before parsing; BAD_QUERY, or TOO_COSTLY for a first over MaxListSize,
// while measuring; then TOO_DEEP, TOO_MANY_FIELDS, TOO_COSTLY; then
// BAD_QUERY or QUERY_TOO_LARGE while printing), then refuses
// Report.Introspection to unauthenticated callers, then hands Report.Query
// (see Canonical print below) to graphql-go under Limits.QueryTimeout.
// Nothing unauthenticated reaches graphql-go's parser without passing
// Check.
//
// # Cost model
//
// Every field costs 1 (__typename included). A field that returns a list
// multiplies the cost of what it selects by how many elements it may
// return:
//
//   - its first argument, if the schema declares one: the literal, else the
//     variable's value, else the variable's default, else the argument's
//     default in the schema, else Limits.DefaultListSize; a first over
//     Limits.MaxListSize is refused (TOO_COSTLY);
//   - for a list field named edges (a Relay connection's), the first of the
//     field that returned the connection, taken as above (records' default
//     20, accessLog's 50);
//   - for introspection lists (__Schema.types, __Type.fields, …), the most
//     elements that list can have in this schema;
//   - otherwise Limits.DefaultListSize.
//
// A field that takes first but returns a connection costs 1 plus its
// selection; the multiplication happens at edges. So, with the defaults,
//
//	records(department: "tax", type: "parcel", first: 20) {  # 1 + edges + pageInfo
//	  edges {                                                # 1 + 20·(cursor + node)
//	    cursor                                               # 1
//	    node { key leaf fields { name value } }              # 1 + 1 + 1 + (1 + 10·2)
//	  }
//	  pageInfo { hasNextPage endCursor }                     # 3
//	}
//
// costs 1 + (1 + 20·(1 + 24)) + 3 = 505.
//
// Named and inline fragments are expanded where they are spread; each named
// fragment is measured once and the result reused (its cost kept as
// a + m·b in the first m of the field around it), so fragments that spread
// each other exponentially many times are measured in linear time, and
// their exponential totals saturate rather than overflow. Directives
// (@skip, @include) are ignored: the measure is of everything the query
// could select.
//
// # Depth and fields
//
// Depth counts field levels (a top-level scalar field has depth 1) through
// fragments; the __schema and __type subtrees are held to
// Limits.MaxIntrospectionDepth, the rest of the query to Limits.MaxDepth.
// (That is at the root of an operation; below a field returning Query,
// which the gateway's schema has not, they are fields like any other.)
// Fields counts every field selection, aliases included, with fragments
// expanded, over every operation and unused fragment of the document,
// since graphql-go validates them all; Cost is of the operation that will
// run.
//
// # Parser
//
// Queries and the SDL are parsed with github.com/vektah/gqlparser/v2's
// parser (not its validator): its lexer is linear and it refuses nesting
// deeper than 1000 levels instead of exhausting the stack.
//
// # Canonical print
//
// graphql-go reads query text with its own lexer (Go's text/scanner), which
// disagrees with gqlparser's: it ends a block string at the first """ even
// after a backslash, so what gqlparser read as string content runs as
// selections; it skips // and /* */ comments; it reads Go's number, char
// and raw-string forms. So Check measures gqlparser's AST, prints it back,
// and the gateway executes [Report].Query, never the caller's text: one
// measurement of what runs. The print holds every operation, then every
// fragment, one per line; comments, descriptions and optional white space
// are dropped, and a space separates two tokens only where they would
// otherwise merge (a name or number before a name or number, a string
// before a quote):
//
//	query R($n:Int=4){a:records(department:"tax",type:"parcel",first:$n){edges{node{...F}}}}
//	fragment F on Record{fields{name value}}
//
// Every string, block strings included, is printed as an ordinary string
// with only the escapes \" \\ \n \r \t \b \f and \u00XX (the other control
// characters and DEL); everything else, non-ASCII included, is raw UTF-8.
// These escapes mean the same to GraphQL, to text/scanner and to
// strconv.Unquote (with which graphql-go deserializes strings), and
// graphql-go's rewriting of \u escapes leaves \u00XX alone. Names and
// numbers are printed as gqlparser read them, forms text/scanner reads as
// the same tokens. Check refuses (BAD_QUERY) what cannot be printed to be
// read the same way: an integer literal outside int64 or a float literal
// that overflows float64, anywhere in the document (graphql-go converts
// literals with strconv and panics if that fails: for a custom scalar or
// Float argument, a variable's default, or while comparing overlapping
// fields' arguments during validation), and a string that is not valid
// UTF-8. The print is held to Limits.MaxQueryBytes too (QUERY_TOO_LARGE),
// so graphql-go's MaxQueryLength set to that bound never refuses it.
package limits
