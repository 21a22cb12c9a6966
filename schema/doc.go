// Package schema is crossledger's domain: departments and their versioned
// record-type schemas, the signed envelopes that become log entries, the
// salted field commitments (SD-JWT-style disclosures) that keep personal data
// out of the log, Ed25519 signatures and key resolution, and the canonical
// (RFC 8785) encoding that makes every signature and proof reproducible.
//
// schema is pure: it imports no other crossledger package, and does no
// network, SQL, logging or goroutine work. Every other package imports it.
//
// # The wire rule
//
// Every JSON document crossledger puts on the wire — the envelope, the
// Kafka message that carries it, a disclosure's array, a receipt — has
// exactly one encoding, its RFC 8785 canonical JSON, and is accepted in
// that encoding only: members sorted by key, no whitespace, the minimal
// string escapes, integers in their shortest form (no leading zeros, no
// minus zero, no fraction or exponent), and no member that the canonical
// form omits (null, false, 0, "", [] or {} where the Go field is
// omitempty). One reader reads them all (wire.go), against
// one table of members per object (members.go) that the encoder writes
// from too. Anything else is rejected: as [ErrMalformed] when it is not
// JSON of the document's shape (syntax, trailing data, duplicate or
// unknown keys, wrong types, integers out of range), as [ErrNotCanonical]
// when it is, but spelled another way (whitespace, member order, a key in
// another case, escapes, null, explicit defaults, missing members).
//
// # Wire formats
//
// A department publishes each signed envelope to Kafka (topic
// crossledger.changes, or crossledger.access for the gateway) as one
// [Message], keyed by the signing department:
//
//	{"disclosures":["<disclosure>",…],"envelope":<canonical envelope, verbatim>}
//	{"envelope":<canonical envelope, verbatim>}          (no disclosures)
//
// The envelope is embedded as it is: its bytes inside the message are
// exactly the bytes that become the log entry and that the signature
// covers, and must be canonical JSON themselves. Disclosures (see
// [Disclosure]) travel beside it and go to the private payload store,
// never to the log.
//
// Ingest answers every message with a [Receipt] on crossledger.receipts,
// keyed by department, canonical JSON as well:
//
//	{"department":"tax","envelope_digest":"<base64url SHA-256 of the envelope>",
//	 "leaf":1234,"proof":"c2sp.org/tlog-proof@v1\nindex 1234\n…","seq":7,"status":"accepted"}
//	{"department":"tax","detail":"bad signature: tax seq 8 key …","envelope_digest":"…",
//	 "leaf":0,"reason":"bad-signature","seq":8,"status":"rejected"}
//
// (shown on several lines here; on the wire each is one line). A
// receipt's proof is a C2SP tlog-proof of the envelope at Leaf against a
// signed checkpoint: the department verifies it with the log's public key
// and only then retires the message from its outbox.
package schema
