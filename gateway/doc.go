// Package gateway is crossledger's GraphQL gateway: authenticated,
// purpose-bound, field-level authorised queries over the projection stores
// that return values with their disclosures, the owner's signature and a
// tlog-proof bundle, after first writing an access entry to the ledger
// (fail closed). It also serves GraphiQL (package gateway/graphiql).
//
// # A request
//
//  1. The body is bounded (Config.MaxBodyBytes); the caller is
//     authenticated (gateway/auth: bearer JWT) and rate limited per
//     identity (unauthenticated callers per IP).
//  2. The query is measured before graphql-go parses it (gateway/limits:
//     length, depth, selections, cost) and refused when over a limit;
//     introspection is for authenticated callers only.
//  3. The current signed checkpoint is taken once; every proof in the
//     response is against it, and authorisation is the fold of the grant
//     and revoke entries below its size (read from the log, not from the
//     projection, so a revoke is in force for every query whose checkpoint
//     contains it).
//  4. Resolvers read the department stores (in parallel for person),
//     decide field by field what may be disclosed, and collect what was
//     disclosed and what was denied.
//  5. Before the response is written, one access entry describing it is
//     written to the ledger (Deps.Access, acks=all). If that fails the
//     response is an error with no data. Its id is in
//     extensions.access.id.
//
// gateway may import schema, merkle and store; it must not import ingest,
// adapters or ops (cmd/crossledger wires the access writer, which is the
// department SDK signing as the gateway).
package gateway
