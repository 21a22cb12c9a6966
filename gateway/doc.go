// Package gateway will own crossledger's GraphQL gateway: authenticated,
// purpose-bound, field-level authorised queries over the projection stores
// that return values with their disclosures, the owner's signature and a
// tlog-proof bundle, after first writing an access entry to the ledger
// (fail closed). It also serves the auditor endpoints and GraphiQL.
//
// gateway may import schema, merkle and store; it must not import ingest,
// adapters or ops (ops wires it into the binary).
//
// Not built yet: see the gateway issue. This file exists so the layout in
// DESIGN.md is visible from the first commit; the package has no code.
package gateway
