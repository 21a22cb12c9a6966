// Package witness is crossledger's side of C2SP tlog-witness v1.0.0 and
// tlog-cosignature v1 (Ed25519), and its C2SP tlog-policy reader: so that
// no single operator holds the truth, each department can run a witness,
// and the log publishes only checkpoints a quorum of them cosigned.
//
//   - [Server] is a witness: POST /add-checkpoint (the spec's body and
//     answers: 400 malformed, 403 no valid signature of the log's keys,
//     404 unknown log, 409 with the latest cosigned size as
//     text/x.tlog.size, 422 a proof that does not verify or a fork at the
//     same size) and GET /<hex SHA-256 of the origin>/checkpoint for
//     monitors. Its state is one file per log, <dir>/<origin hash>.checkpoint:
//     the latest checkpoint it cosigned, with the log's signature and its
//     own. The check against the old size and the replacement of that file
//     (temp, fsync, rename, fsync dir) happen under one lock, and the file
//     is durable before the cosignature is sent, so a witness killed at any
//     point and restarted never cosigns a tree that does not extend the
//     one it last cosigned. A state file that does not verify stops it
//     from starting.
//   - [Signer] and [Verifier] are cosignature/v1 [note.Signer] and
//     [note.Verifier]: key id SHA-256(name ‖ "\n" ‖ 0x04 ‖ key)[:4],
//     signature u64 timestamp ‖ Ed25519 over "cosignature/v1\ntime T\n" ‖
//     checkpoint body. Keys: "PRIVATE+KEY+<name>+<id>+base64(0x04 ‖ seed)"
//     and the vkey "<name>+<id>+base64(0x04 ‖ public key)" ([GenerateKey]).
//   - [Policy] is a C2SP tlog-policy file (log, witness, group, quorum
//     lines); [Policy.Check] verifies a checkpoint's log signature and its
//     cosignatures and reports which witnesses vouched.
//   - [Cosigner] asks a policy's witnesses in parallel, under one
//     timeout, passing each the consistency proof from the size it last
//     cosigned (learned from its answers; a 409 is retried once from the
//     size it reports; a witness that has cosigned a larger tree than the
//     log's is [ErrWitnessAhead]: a rollback or fork). A failing witness
//     backs off, unless the quorum needs it.
//   - [Publisher] drives a log opened with merkle.Options.Witnessed: each
//     time the head moves it cosigns it and, once the quorum is met,
//     publishes it (merkle.Log.Publish). Below quorum it publishes nothing
//     and retries; it never publishes an uncosigned checkpoint. Receipts
//     and proofs wait for publication (merkle.Log.WaitPublished); ingest
//     pauses on the backlog.
//
// witness imports merkle and internal/atomicfile; ingest, cmd/crossledger
// and the verifiers import it.
package witness
