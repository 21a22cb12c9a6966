// Package ingest turns signed changes from Kafka into log entries, exactly
// once, and feeds the projection from the log.
//
// # The pipeline
//
// One reader per partition of crossledger.changes and crossledger.access
// (kafka-go, no consumer group: the offsets that count are in the log)
// feeds a bounded channel. The batch loop collects up to Config.BatchSize
// messages or Config.BatchAge, then:
//
//  1. check, on Config.Verifiers goroutines: strict decode of the wire
//     message and the canonical envelope (schema), the department's schema
//     as of that entry, the disclosures against their digests, and the
//     Ed25519 signature with the key valid at the index the entry would get;
//  2. sequence, in order: the seq rule (below), keys and schema versions
//     that department.key and schema entries change (a batch is cut after
//     one, so every later entry is checked under it);
//  3. append, in one durable step: the private payloads (disclosures) are
//     fsynced first, then the log appends the entries together with the
//     ingest state — Kafka offsets and every department's last seq and
//     digest — and a new signed checkpoint, in one fdatasync (see merkle);
//  4. answer, behind the loop: a receipt per message on
//     crossledger.receipts (accepted and duplicate ones carry a tlog-proof),
//     and a copy of each rejected message on crossledger.rejected with its
//     reason in headers.
//
// After a crash, New reads the state committed with the last checkpoint
// and Run resumes every partition at its committed offset, so a message is
// either in the log with its offset or read again — and read again it is a
// duplicate. A receipt lost in a crash only makes its sender re-send.
//
// # The seq rule
//
// Each department numbers its envelopes 1, 2, 3, … (its SDK outbox keeps
// the counter). For the next message of a department whose last logged seq
// is n:
//
//   - seq n+1: accepted (if everything else checks out);
//   - seq ≤ n with the bytes of the logged entry: a duplicate — no new leaf,
//     the original receipt again;
//   - seq ≤ n with other bytes: equivocation — rejected and logged as an
//     error (the department signed two things under one number);
//   - seq > n+1: a gap — held in memory (at most Config.MaxPending per
//     department) until the missing seqs arrive, never reordered. Held
//     messages live in memory only: after a restart they are gone, and the
//     sender's SDK re-sends them (it re-sends anything without a verified
//     receipt). A held seq received again changes nothing with the same
//     bytes and is an equivocation with others; past a full set, a message
//     is dropped, to be re-sent.
//
// The rule is the sequencer's (sequencer.go), a type without I/O whose
// table tests cover every case above; the batch loop adds the durable
// steps around it.
//
// # Backpressure
//
// Before each batch ingest waits while committed entries wait for the
// witnesses' quorum (with a witness policy: more than
// Config.MaxUnwitnessed of them, or any after a round that missed the
// quorum), the projection is more than Config.MaxProjectionLag entries
// behind the log, or the payload file system has less than
// Config.MinFreeDisk free; it stops fetching rather
// than buffering (the readers block on the full channel), logs one warning
// when it pauses and one line when it resumes, and reports it as
// crossledger_ingest_paused{reason} and [Ingester.Paused].
//
// # Witnesses
//
// With Deps.Witnessing the log publishes a checkpoint only once a quorum
// of witnesses cosigned it (merkle/witness): receipts carry proofs
// against published checkpoints only, so a receipt waits until one
// covers its entry, and the projector projects only published entries.
// Below quorum nothing new is published and ingest pauses; nothing is
// lost — the entries are committed, and their receipts go out once the
// witnesses are back.
//
// # The projector
//
// [Projector] reads the log and the payloads (never Kafka) from the store's
// watermark on, and writes the projected entries to a store.Store; it
// retries a failing store with backoff, so a projection that was down
// catches up on its own. `crossledger reproject` rebuilds a store from
// scratch the same way.
//
// # Metrics
//
// See metrics.go for the crossledger_ingest_* and crossledger_projector_*
// metrics registered with Deps.Registerer and Projector.Registerer.
package ingest
