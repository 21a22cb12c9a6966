// Package merkle is crossledger's transparency log: an append-only RFC 6962
// Merkle tree of entries, stored and served in the C2SP tlog-tiles layout,
// with C2SP tlog-checkpoint signed heads, inclusion and consistency proofs
// built from the stored tiles, C2SP tlog-proof bundles, crash recovery and
// an fsck.
//
// It owns the tree, its files and its proofs. It imports no other
// crossledger package and logs nothing; the only I/O is through the
// [Storage] seam (and the writer lock). Its one concurrency, at that
// storage edge, is the tile writer: two goroutines owned by the [Log],
// started by [Open] and stopped by [Log.Close] (below). Hashing, compact
// ranges and proof node selection come from github.com/transparency-dev/merkle;
// signed notes from golang.org/x/mod/sumdb/note; tile path encoding from
// Tessera's api/layout.
//
// # Writing
//
// One process writes a log directory: [Open] takes an exclusive flock on
// <dir>/lock ([ErrLocked] otherwise; [Options.WaitForLock] makes a standby
// wait). [Log.Append] adds a batch and replaces an opaque caller state
// (ingest keeps its Kafka offsets and per-department seq state there).
// When Append returns, entries, state and a new signed checkpoint are
// durable together, and cost one sequential write and one fdatasync; the
// tiles derived from them follow (see below).
//
// # On-disk format
//
//	<dir>/
//	  lock                              flock(LOCK_EX) of the single writer; empty
//	  journal                           PRIVATE commit log, never served (below)
//	  checkpoint                        signed tlog-checkpoint of the journal's last record
//	  tile/<L>/<N>[.p/<W>]              hash tiles: W (or 256) × 32-byte hashes
//	  tile/entries/<N>[.p/<W>]          entry bundles: W (or 256) × (uint16 BE length ‖ entry)
//
// <N> is the tile index in 3-digit groups, all but the last prefixed "x"
// (1234067 → x001/x234/067). A level-L tile holds the hashes of tree level
// 8L; partial tiles (width 1..255) exist for every tree size a checkpoint
// was issued at, until the tile fills (from memory or from the prefix of a
// longer version of the tile: every version of a tile is a prefix of the
// next).
//
// The journal is the commit point:
//
//	journal  = magic record*
//	magic    = "crossledger/merkle journal v1\n"
//	record   = u32 len ‖ u32 CRC-32C(body) ‖ body           (big-endian)
//	body     = kind ‖ u64 first ‖ u32 n ‖ n × (u16 len ‖ entry)
//	           ‖ u32 len ‖ state ‖ u32 len ‖ signed checkpoint
//	           ‖ u8 k ‖ k × 32-byte compact-range hash
//	kind     = 'B' (base: n = 0, k = compact range of [0, first))
//	         | 'A' (append: k = 0, entries [first, first+n))
//
// A journal is one base record followed by append records. Append does, in
// order: hash the batch and sign the new checkpoint (no I/O); append one
// record holding entries, state and checkpoint to the journal and
// fdatasync it — the commit; hand the full tiles and bundles the batch
// completed to the tile writer; publish the new head in memory. The tile
// writer writes them (plain writes, no fsync) in the background; until it
// has, readers get them from its queue. If more than
// [Options.WriteBehind] are queued, the next Append waits first
// (backpressure); a failed background write is returned by the next Append
// (poisoning the Log), by compaction and by Close. The right edge of the
// tree (partial tiles and bundle) and the newest checkpoint are served by
// [Log.Handler] from memory; they are written to the directory at
// compaction. So the directory on its own is always a
// complete static tlog-tiles log as of the last compaction, and the
// Handler serves the live head. A partial tile is never served before the
// checkpoint that covers it.
//
// Where the state lives: inside the same journal record as the entries and
// the checkpoint, so one fdatasync makes the three durable atomically; there
// is no window in which a checkpoint is durable with the wrong state. The
// public checkpoint file and the tiles are derived copies.
//
// Compaction: once the journal exceeds [Options.JournalLimit] (and on
// Close, on Open after a crash, and before Verify), the log waits for the
// tile writer to empty its queue, writes the current partial tiles and
// bundle, publishes the checkpoint file (temp,
// fsync, rename), makes everything durable with one syncfs, writes a new
// journal holding just a base record for the current head (temp, fsync,
// rename, fsync dir), then removes the partial tiles of tiles that have
// filled (tlog-tiles allows it; the Handler serves an old partial from the
// prefix of the full tile). Tiles older than the base record are
// therefore durable; newer ones may be lost in a power failure or a crash
// (still queued, or not yet synced) and are rebuilt from the journal.
//
// Shutdown order: Close compacts (which drains the tile writer), stops
// and waits for the tile writer goroutines, then releases the writer lock.
// A Log that is never closed leaks them.
//
// # Recovery
//
// Open reads the journal. A last record that is torn or fails its checksum
// is an interrupted Append that never returned: it is truncated. A bad
// record with more records behind it is damage to acknowledged data and
// fails Open with a [*CorruptError]. From the base record's compact range
// and the partial tiles at its size, Open replays every append record,
// rewriting its tiles and bundles and checking each record's checkpoint
// root ([*RootMismatchError] otherwise), republishes the last checkpoint,
// and finally recomputes the root from the stored tiles on the tree's right
// edge. A public checkpoint ahead of the journal is refused. [Log.State]
// then returns the state committed with that checkpoint.
//
// [Log.Verify] is the full fsck: it recomputes the tree from all entry
// bundles and compares every stored tile, leftover partial and the
// checkpoint, returning a [*VerifyError] naming each bad file.
//
// # Reading and proofs
//
// [Log.InclusionProof], [Log.ConsistencyProof] and [Log.RootAt] work for
// any size up to the current checkpoint and read nodes from stored tiles
// through a bounded LRU of expanded tiles. [Log.Handler] serves the
// tlog-tiles resources and proof endpoints over HTTP; nothing else in the
// directory is reachable through it. [Proof] is the tlog-proof bundle.
//
// # Witnessed publication
//
// With [Options.Witnessed], committing and publishing are two steps: the
// committed head ([Log.Head]) is private to the log's owner until it hands
// [Log.Publish] a checkpoint a quorum of witnesses cosigned (see package
// merkle/witness); [Log.Checkpoint], [Log.ProofBundle] and the Handler's
// checkpoint, tiles and proofs show only the published one, which is kept
// with its cosignatures in <dir>/checkpoint.witnessed (see witnessed.go).
package merkle
