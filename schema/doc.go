// Package schema is crossledger's domain: departments and their versioned
// record-type schemas, the signed envelopes that become log entries, the
// salted field commitments (SD-JWT-style disclosures) that keep personal data
// out of the log, Ed25519 signatures and key resolution, and the canonical
// (RFC 8785) encoding that makes every signature and proof reproducible.
//
// schema is pure: it imports no other crossledger package, and does no
// network, SQL, logging or goroutine work. Every other package imports it.
package schema
