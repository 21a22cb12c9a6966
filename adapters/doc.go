// Package adapters is the department side of crossledger: an SDK that
// turns a department system's record changes into signed, numbered
// envelopes, keeps them in a durable local outbox, publishes them to Kafka
// and retires each one only when a receipt with a verified inclusion proof
// comes back (end-to-end delivery: a message lost by a broker is re-sent).
//
// Two layers: a [Publisher] signs, numbers, stores, sends and retires
// envelopes of any kind (the gateway's access entries, grants), knowing
// no catalog and no record secret; a [Client] is a Publisher that also
// builds record changes (field commitments, disclosures, record
// references) from a department's catalog and record secret.
//
// # Outbox
//
// The outbox is a SQLite database (modernc.org/sqlite: pure Go, no cgo,
// already the embedded projection store's driver, so it adds no
// dependency). SQLite gives what an outbox needs and a flat file would
// have to re-invent: the next seq and the message row are written in one
// fsynced transaction, so a seq is never used twice nor skipped, even
// across crashes; rows are found by seq and digest when receipts arrive.
//
//	meta(k, v)                 next_seq
//	outbox(seq, digest, envelope, message, state, leaf, reason, detail,
//	       attempts, next_attempt)
//	receipt_offsets(partition, next)
//
// state is pending (sent or not, no verified receipt yet), done (a receipt
// whose tlog-proof verifies against the trusted log key and whose
// envelope digest matches), or rejected (a rejection receipt; reason is
// machine-readable, see schema.ReasonOf).
//
// # Ordering
//
// Publishing calls are group-committed (see [Publisher]): one committer
// assigns seqs in queue order, stores a whole batch in one transaction and
// sends it in one write, batches in seq order, and every message of a
// department is keyed by the department, so it lands in one partition in
// seq order. Ingest holds a seq that arrives early until the gap fills;
// re-sends fill gaps.
//
// adapters imports schema and merkle (to verify proofs); it must not
// import ingest, store or gateway.
package adapters
