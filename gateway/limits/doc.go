// Package limits keeps abusive requests away from the gateway's GraphQL
// engine: a body-size limit ([LimitBody]), per-identity and per-address
// rate limits ([RateLimiter]), and a pre-check of every query
// ([Checker.Check]) for length, depth, field count and cost, run before
// graphql-go parses and validates it. graphql-go's validation is
// super-linear in the number of fields (its overlapping-fields rule
// compares them pairwise), so a query with 10 000 aliases must be refused
// before it gets there; Check itself is linear in the query's length, which
// it bounds first.
//
// # Order of checks
//
// Per request, the gateway applies: body size (LimitBody, 413), rate limit
// (429 with Retry-After; by identity, or by [RemoteKey] for
// unauthenticated callers), then Check on the query text (QUERY_TOO_LARGE
// before parsing; BAD_QUERY, or TOO_COSTLY for a first over MaxListSize,
// while measuring; then TOO_DEEP, TOO_MANY_FIELDS, TOO_COSTLY), then refuses Report.Introspection to unauthenticated
// callers, then hands the query to graphql-go under Limits.QueryTimeout.
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
// Limits.MaxIntrospectionDepth, the rest of the query to Limits.MaxDepth. Fields counts every field selection, aliases included, with
// fragments expanded, over every operation and unused fragment of the
// document, since graphql-go validates them all; Cost is of the operation
// that will run.
//
// # Parser
//
// Queries and the SDL are parsed with github.com/vektah/gqlparser/v2's
// parser (not its validator): its lexer is linear and it refuses nesting
// deeper than 1000 levels instead of exhausting the stack.
package limits
