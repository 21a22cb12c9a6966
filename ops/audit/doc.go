// Package audit checks a crossledger log from its public HTTP API alone —
// the C2SP tlog-tiles resources and public keys, no private key and no
// log directory. It is `crossledger audit`.
//
// # What a run checks
//
//  1. The checkpoint (/checkpoint, at most [MaxCheckpointSize] bytes):
//     the log's signature, and with a witness policy the cosignatures and
//     the quorum ([witness.Policy.Check]).
//  2. Against the largest checkpoint verified before (kept in the
//     state): a smaller tree is a rollback, another root at the same
//     size a fork — both reported with the two signed checkpoints
//     ([Evidence]); a larger tree must be proven to extend it by an RFC
//     6962 consistency proof built from the served tiles (the nodes left
//     of the old size are the old compact range the state keeps).
//  3. Every entry not checked before, fetched in entry bundles (bounded
//     ahead-fetching, only bundles and tiles right of the state's
//     position): the canonical encoding (schema's strict decoder), the
//     signature under the signer's key valid at that index (key history
//     from the genesis file and the department.key entries), each
//     signer's dense seqs (1, 2, 3, …), record changes against their
//     department's record types, grants and revokes signed by the record
//     type's owner, access entries signed by the gateway and nothing else
//     signed by it, and department.key and schema entries applied as
//     ingest applies them.
//  4. The tree recomputed from the entries: every hash tile it fills
//     against the served one, the partial tiles at the end, and the
//     root against the checkpoint's.
//
// Problems — evidence against the log — are collected with the index and
// a reason (see the Code constants) in the [Report]; [Run] returns an
// error only when it could not check (network, state directory,
// configuration), which is not evidence.
//
// # The rules, step by step
//
// Entries are checked in batches, in four steps: prepare (leaf hash,
// strict decode, signing bytes; on all cores), resolve (in index order:
// the key valid at the index and the catalog checks, and for the
// department.key and schema entries that later entries depend on, their
// signature and their change right away), verify (the other signatures, on
// all cores, with [schema.VerifyBatch]), finish (in index order: counts,
// the seq rule, who may sign what). An entry whose signature does not
// verify is counted and reported but does not move its signer's seq: it is
// not the signer's.
//
// # State
//
// The state directory holds one JSON file, [StateFile], replaced
// atomically (internal/atomicfile) — see [State]:
//
//	verified      the last checkpoint whose root was recomputed from entries
//	latest        the largest checkpoint proven to extend it, and its compact range
//	size, range, edge
//	              the recomputed tree: size (verified ≤ size ≤ latest), compact
//	              range, and the hashes of the partial tile at each level
//	departments   per signer: last verified seq, entries by kind
//	replay        the department.key and schema entries applied (to rebuild
//	              the key history and the catalog)
//	problems      the problems of the entries before size
//
// A run saves it after adopting a new latest checkpoint, every
// [Config.SaveEvery] entries — only once the recomputed compact range,
// extended by the served tiles right of it, hashes to the latest root, so
// unproven entries are never saved — and at the end. An interrupted run
// resumes at the last save; a second run fetches only the bundles and
// tiles right of the saved size. The state is bound to the log key; a
// state that does not hold together is refused, not repaired.
//
// audit imports merkle, merkle/witness and schema; nothing imports it but
// cmd/crossledger.
package audit
