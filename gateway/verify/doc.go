// Package verify checks a saved gateway response offline: that every
// record in it was signed by its owning department, that every value
// shown is the one the department committed to, that every redacted field
// is one it committed to, and that every record is in the log under a
// checkpoint signed by the log key. It needs no network and trusts
// nothing in the response: only the log's verifier key and the genesis
// key ring the caller supplies.
//
// # What it reads
//
// The GraphQL response ({"data": …, "errors": […], "extensions": {…}})
// is walked whole; every object under "data" that has an "envelope" key
// is a record (the SDL's Record type, gateway/schema.graphql) and must
// carry these keys, under these names (a client may alias any other
// field, but not these):
//
//	{
//	  "envelope": "<the signed envelope, canonical JSON, as a string>",
//	  "proof":    "c2sp.org/tlog-proof@v1\nindex 1234\n…\n\n<checkpoint>",
//	  "fields": [
//	    {"name": "status",    "value": "married", "disclosure": "WyJ…", "digest": "Xy…", "redacted": false},
//	    {"name": "spouse_id", "value": null,      "disclosure": null,   "digest": "Ab…", "redacted": true}
//	  ],
//	  "department": "civil-affairs", "type": "marriage", "op": "upsert",
//	  "schemaVersion": 1, "time": "2026-01-02T03:04:05Z", "leaf": 1234,
//	  "keyId": "0123456789abcdef", "signature": "<base64url>", "key": ["M-1"]
//	}
//
// Each field object must carry "name", "value", "disclosure" and
// "digest"; "redacted" is optional. The record's other keys are optional
// and, when present under their SDL names, must agree with the signed
// envelope and the proof ("key" is checked only with [WithCatalog], and
// only against disclosed key fields: the envelope names the record by a
// keyed hash). Objects with "signed" and "rootHash" keys (the SDL's
// Checkpoint type) are verified as signed checkpoints too.
//
// # What it checks
//
// Per record: the envelope decodes strictly ([schema.DecodeEnvelope]), is
// a record change, and its signature verifies under the department key
// the key ring holds for the envelope's key id at the record's leaf. Per
// field: a disclosed field's disclosure parses strictly, names the field,
// hashes to the field's digest and to the envelope's digest for that
// field, and holds the value shown (in canonical text: the JSON int or
// bool of the disclosure written as text); a redacted field has a null
// value and disclosure and the envelope's digest. Every digest of the
// envelope appears in exactly one field. The proof decodes
// ([merkle.DecodeProof]), its index is the record's leaf, its checkpoint
// is signed by the log key, and it proves the envelope's bytes at that
// index. Across the response: two signed checkpoints of one size must
// have one root hash (otherwise the log forked, and the response is the
// evidence); checkpoints of different sizes are listed in the report, as
// their consistency is not something a response can prove.
//
// Problems are [Failure]s in the [Report], each with the JSON path of
// what failed and a sentence saying what it means. [Response] returns an
// error only for input it cannot read as a GraphQL response.
package verify
