package ingest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/crossledger/crossledger/internal/topics"
	"github.com/crossledger/crossledger/merkle/witness"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/schema"
)

// state is the caller state ingest commits with every log append.
type state struct {
	// Offsets: "topic/partition" → next offset to read.
	Offsets map[string]int64 `json:"offsets"`
	// Departments: per signer, the last logged seq and its envelope digest.
	Departments map[string]deptMark `json:"departments"`
	// KeyLeaves and SchemaLeaves list the leaves of department.key and
	// schema entries, replayed into the key ring and catalog on start.
	KeyLeaves    []uint64 `json:"key_leaves,omitempty"`
	SchemaLeaves []uint64 `json:"schema_leaves,omitempty"`
}

type deptMark struct {
	Seq    uint64 `json:"seq"`
	Digest string `json:"digest"`
}

// Ingester consumes published messages, appends valid ones to the log
// and answers each with a receipt. See the package doc for the pipeline.
type Ingester struct {
	cfg      Config
	log      *merkle.Log
	catalog  *schema.Catalog
	keys     *schema.KeyRing
	payloads *Payloads
	logger   *slog.Logger

	st state
	// leaves[dept][s-1] is the leaf of the department's seq s: a
	// department's logged seqs are exactly 1..last (gaps are held, never
	// logged), so a slice indexes them.
	leaves map[string][]uint64
	seq    *sequencer // the seq rule; its marks are st.Departments

	writer *kafka.Writer
	// answers carries committed batches' items to the receipt producer,
	// so building proofs and producing receipts overlaps the next batch.
	// Nil outside Run: sequence answers synchronously.
	answers chan []*item

	lag    ProjectionProgress // nil: no projection check
	wit    Witnessing         // nil: the log publishes every commit
	statfs func(dir string) (free uint64, err error)
	pb     pushback

	m *ingestMetrics
}

// Deps are the Ingester's collaborators.
type Deps struct {
	Log *merkle.Log
	// Catalog holds the department schemas of the genesis; ingest adds the
	// versions logged in schema entries. Shared with the projector.
	Catalog *schema.Catalog
	// Keys is the key ring built from the genesis file (schema.NewKeyRing);
	// ingest applies the logged department.key entries to it.
	Keys *schema.KeyRing
	// Payloads, if set, is the payload store of Config.PayloadDir opened
	// with [OpenPayloads] on Log's size, shared with the projector (the
	// node assembly opens it once for both). Nil: New opens it.
	Payloads *Payloads
	Logger   *slog.Logger
	// Projection, if set, reports the projection's progress: ingest
	// pauses while the projection is more than Config.MaxProjectionLag
	// entries behind the log (see [ErrPushback]). Typically the
	// [Projector] that runs beside ingest. Nil: no projection check.
	Projection ProjectionProgress
	// Witnessing, if set, publishes the log's checkpoints once witnesses
	// cosigned them (the log is opened with merkle.Options.Witnessed):
	// ingest notifies it after each append, sends receipts only for
	// entries a published checkpoint covers, and pauses on its backlog
	// (see [Config.MaxUnwitnessed]). Typically a *witness.Publisher.
	Witnessing Witnessing
	// Registerer, if set, gets ingest's Prometheus metrics
	// (crossledger_ingest_*, listed in metrics.go). Nil: no metrics.
	Registerer prometheus.Registerer
}

// Witnessing is the witness publisher as ingest sees it.
type Witnessing interface {
	Notify()
	Status() witness.Status
}

// New prepares an Ingester: it opens the payload store (dropping payloads
// of uncommitted appends), reads the state committed with the log's
// checkpoint, replays the logged department.key and schema entries into
// the key ring and catalog, and indexes every department's seqs by
// scanning the log.
//
// After [Ingester.Run] fails, the key ring and catalog may hold changes of
// an append that did not commit: build new ones and a new Ingester.
func New(ctx context.Context, cfg Config, deps Deps) (*Ingester, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Log == nil || deps.Catalog == nil || deps.Keys == nil {
		return nil, errors.New("ingest: Deps.Log, Catalog and Keys are required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := newIngestMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	size := deps.Log.Size()
	pl := deps.Payloads
	if pl == nil {
		if pl, err = OpenPayloads(cfg.PayloadDir, size); err != nil {
			return nil, err
		}
	}
	in := &Ingester{
		cfg: cfg, log: deps.Log, catalog: deps.Catalog, keys: deps.Keys, payloads: pl, logger: deps.Logger,
		leaves: map[string][]uint64{}, lag: deps.Projection, wit: deps.Witnessing, statfs: freeDisk, m: m,
	}
	if raw := deps.Log.State(); len(raw) > 0 {
		if err := json.Unmarshal(raw, &in.st); err != nil {
			return nil, fmt.Errorf("ingest: couldn't decode log state: %w", err)
		}
	}
	if in.st.Offsets == nil {
		in.st.Offsets = map[string]int64{}
	}
	if in.st.Departments == nil {
		in.st.Departments = map[string]deptMark{}
	}
	in.seq = newSequencer(cfg.MaxPending, in.st.Departments)
	if err := in.rebuild(ctx, size); err != nil {
		return nil, err
	}
	m.logSize.Set(float64(size))
	m.held.Set(0)
	return in, nil
}

// Payloads returns the private payload store (for the projector).
func (in *Ingester) Payloads() *Payloads { return in.payloads }

// rebuild scans the log: the seq index, and the key and schema entries.
func (in *Ingester) rebuild(ctx context.Context, size uint64) error {
	keyLeaves := map[uint64]bool{}
	for _, l := range in.st.KeyLeaves {
		keyLeaves[l] = true
	}
	schemaLeaves := map[uint64]bool{}
	for _, l := range in.st.SchemaLeaves {
		schemaLeaves[l] = true
	}
	const chunk = 1024
	for from := uint64(0); from < size; from += chunk {
		ents, err := in.log.Entries(ctx, from, min(chunk, size-from))
		if err != nil {
			return fmt.Errorf("ingest: couldn't scan log: %w", err)
		}
		for i, e := range ents {
			leaf := from + uint64(i)
			var head struct {
				Department string `json:"department"`
				Seq        uint64 `json:"seq"`
			}
			if err := json.Unmarshal(e, &head); err != nil {
				return fmt.Errorf("ingest: logged entry %d is not an envelope: %w", leaf, err)
			}
			ls := in.leaves[head.Department]
			if head.Seq != uint64(len(ls))+1 {
				return fmt.Errorf("ingest: logged entry %d has %s seq %d, want %d", leaf, head.Department, head.Seq, len(ls)+1)
			}
			in.leaves[head.Department] = append(ls, leaf)
			if keyLeaves[leaf] || schemaLeaves[leaf] {
				env, err := schema.DecodeEnvelope(e)
				if err != nil {
					return fmt.Errorf("ingest: logged entry %d: %w", leaf, err)
				}
				if keyLeaves[leaf] {
					err = in.keys.Apply(env, leaf)
				} else {
					err = in.catalog.AddVersion(env.Department, env.Schema.RecordType)
				}
				if err != nil {
					return fmt.Errorf("ingest: couldn't replay logged entry %d: %w", leaf, err)
				}
			}
		}
	}
	for d, m := range in.st.Departments {
		if uint64(len(in.leaves[d])) != m.Seq {
			return fmt.Errorf("ingest: state says %s is at seq %d, log has %d", d, m.Seq, len(in.leaves[d]))
		}
	}
	return nil
}

// item is one consumed message on its way through a batch.
type item struct {
	topic     string
	partition int
	offset    int64
	key       []byte
	value     []byte

	env     *schema.Envelope
	raw     []byte   // envelope bytes
	digest  string   // schema.EnvelopeDigest(raw)
	discl   []string // encoded disclosures
	pub     ed25519.PublicKey
	err     error // rejection
	leaf    uint64
	outcome schema.ReceiptStatus
}

// Run consumes until ctx is done or a log append fails. It creates missing
// topics, starts one reader per partition of the changes and access topics
// at the offsets committed in the log state, and processes batches one at
// a time. Readers block when the batch channel (BatchSize items) is full:
// backpressure. Before each batch, ingest waits while the projection or the
// disk falls behind (see [ErrPushback] and [Ingester.Paused]), so a slow
// projection or a filling disk stops fetching instead of growing memory.
func (in *Ingester) Run(ctx context.Context) error {
	c := in.cfg
	if err := EnsureTopics(ctx, c.Brokers, c.TopicPartitions, c.ReplicationFactor,
		c.ChangesTopic, c.AccessTopic, c.ReceiptsTopic, c.RejectedTopic); err != nil {
		return err
	}
	in.writer = topics.NewWriter(c.Brokers, "")
	defer in.writer.Close()

	// Receipts are produced behind the batch loop: the batch is durable
	// before its items are queued here, and a receipt that is never sent
	// only makes its sender re-send (and get the duplicate receipt). The
	// queue is short so a slow receipts topic slows ingest down.
	answers := make(chan []*item, 4)
	in.answers = answers
	defer func() { in.answers = nil }()
	// Every goroutine started here is stopped and waited for before Run
	// returns, also when it returns early (a topic that can't be read).
	rctx, cancel := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(rctx)
	defer func() { cancel(); g.Wait() }()
	g.Go(func() error {
		for {
			select {
			case items := <-answers:
				if err := in.answer(gctx, items); err != nil {
					if gctx.Err() != nil {
						return nil
					}
					return err
				}
			case <-gctx.Done():
				return nil
			}
		}
	})
	msgs := make(chan *item, c.BatchSize)
	for _, topic := range []string{c.ChangesTopic, c.AccessTopic} {
		parts, err := Partitions(ctx, c.Brokers, topic)
		if err != nil {
			return err
		}
		consumed := in.m.consumed.WithLabelValues(topic)
		for _, p := range parts {
			start, ok := in.st.Offsets[offsetKey(topic, p)]
			if !ok {
				start = kafka.FirstOffset
			}
			g.Go(func() error {
				return topics.ReadPartition(gctx, c.Brokers, topic, p, start, c.FetchMaxWait, func(m kafka.Message) error {
					consumed.Inc()
					it := &item{topic: m.Topic, partition: m.Partition, offset: m.Offset, key: m.Key, value: m.Value}
					select {
					case msgs <- it:
						return nil
					case <-gctx.Done():
						return gctx.Err()
					}
				})
			})
		}
	}
	g.Go(func() error {
		for {
			if err := in.waitRoom(gctx); err != nil {
				return nil // ctx done
			}
			batch, err := in.collect(gctx, msgs)
			if err != nil {
				return nil // ctx done
			}
			if err := in.process(gctx, batch); err != nil {
				if gctx.Err() != nil {
					return nil
				}
				return err
			}
		}
	})
	err := g.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return err
}

func offsetKey(topic string, partition int) string { return topic + "/" + strconv.Itoa(partition) }

// collect waits for a first message, then gathers more until BatchSize or
// BatchAge.
func (in *Ingester) collect(ctx context.Context, msgs <-chan *item) ([]*item, error) {
	var batch []*item
	select {
	case it := <-msgs:
		batch = append(batch, it)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	timer := time.NewTimer(in.cfg.BatchAge)
	defer timer.Stop()
	for len(batch) < in.cfg.BatchSize {
		select {
		case it := <-msgs:
			batch = append(batch, it)
		case <-timer.C:
			return batch, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return batch, nil
}

// process runs one batch: check (parallel), sequence, append, answer.
// A batch is cut after an accepted department.key or schema entry, so
// every entry is checked against the keys and schemas in force at its
// index; the rest is processed as the next batch.
func (in *Ingester) process(ctx context.Context, batch []*item) error {
	in.m.batchSize.Observe(float64(len(batch)))
	for len(batch) > 0 {
		start := time.Now()
		in.check(batch, in.log.Size())
		in.m.observeStage(stageVerify, start)
		rest, err := in.sequence(ctx, batch)
		if err != nil {
			return err
		}
		batch = rest
	}
	return nil
}

// check decodes and validates every item and verifies signatures, split
// across Verifiers goroutines. Keys are resolved at the highest index each
// item could get (size + position); sequence re-resolves at the real one.
func (in *Ingester) check(batch []*item, size uint64) {
	n := in.cfg.Verifiers
	chunk := (len(batch) + n - 1) / n
	var wg sync.WaitGroup
	for lo := 0; lo < len(batch); lo += chunk {
		hi := min(lo+chunk, len(batch))
		wg.Add(1)
		go func() {
			defer wg.Done()
			var items []schema.BatchItem
			var pos []int
			for i := lo; i < hi; i++ {
				it := batch[i]
				it.err = in.decode(it)
				if it.err != nil {
					continue
				}
				pub, err := in.keys.ResolveKey(it.env.Department, it.env.KeyID, size+uint64(i))
				if err != nil {
					it.err = &schema.SignatureError{Department: it.env.Department, Seq: it.env.Seq, KeyID: it.env.KeyID, Reason: err.Error(), Err: schema.ErrUnknownKey}
					continue
				}
				msg, err := it.env.SigningBytes()
				if err != nil {
					it.err = err
					continue
				}
				sig, _ := b64.DecodeString(it.env.Sig) // shape checked by DecodeEnvelope
				it.pub = pub
				items = append(items, schema.BatchItem{PublicKey: pub, Message: msg, Signature: sig})
				pos = append(pos, i)
			}
			for j, err := range schema.VerifyBatch(items) {
				if err != nil {
					it := batch[pos[j]]
					it.err = &schema.SignatureError{Department: it.env.Department, Seq: it.env.Seq, KeyID: it.env.KeyID, Reason: "signature does not verify", Err: schema.ErrBadSignature}
				}
			}
		}()
	}
	wg.Wait()
}

// decode parses the message and checks the envelope against the catalog
// and its disclosures. It does not touch the seq state.
func (in *Ingester) decode(it *item) error {
	if it.env != nil { // re-checked after a cut or from pending
		return nil
	}
	m, err := schema.DecodeMessage(it.value)
	if err != nil {
		return err
	}
	it.raw = m.Envelope
	it.digest = schema.EnvelopeDigest(m.Envelope)
	it.discl = m.Disclosures
	env, err := schema.DecodeEnvelope(m.Envelope)
	if err != nil {
		return err
	}
	it.env = env
	if err := in.checkBody(env, m.Disclosures, it.topic); err != nil {
		it.env = nil
		return err
	}
	it.env = env
	return nil
}

func (in *Ingester) checkBody(env *schema.Envelope, discl []string, topic string) error {
	if (env.Kind == schema.KindAccess) != (topic == in.cfg.AccessTopic) {
		return &schema.EntryError{Part: "kind", Reason: fmt.Sprintf("%s entries do not belong on %s", env.Kind, topic), Err: schema.ErrMalformed}
	}
	if env.Kind != schema.KindRecordChange {
		if len(discl) > 0 {
			return &schema.EntryError{Part: "disclosures", Reason: "only record changes carry disclosures", Err: schema.ErrMalformed}
		}
		if env.Kind == schema.KindGrant {
			rt, err := in.catalog.RecordType(env.Department, env.Grant.Type, 0)
			if err != nil {
				return err
			}
			for _, f := range env.Grant.Fields {
				if _, ok := rt.Field(f); !ok {
					return &schema.FieldError{Type: rt.Name, Field: f, Reason: "granted field does not exist"}
				}
			}
		}
		return nil
	}
	ch := env.Change
	rt, err := in.catalog.RecordType(env.Department, ch.Type, ch.SchemaVersion)
	if err != nil {
		return err
	}
	ds, err := schema.CheckEncodedDisclosures(ch, discl)
	if err != nil {
		return err
	}
	// The payload store must be able to project every field: an upsert
	// discloses all its digests.
	if len(ds) != len(ch.Digests) {
		for name := range ch.Digests {
			found := false
			for _, d := range ds {
				found = found || d.Name == name
			}
			if !found {
				return &schema.DisclosureError{Field: name, Reason: "digest without a disclosure"}
			}
		}
	}
	values, err := schema.Values(rt, ds)
	if err != nil {
		return err
	}
	if ch.Op == schema.OpUpsert {
		if err := rt.Validate(values); err != nil {
			return err
		}
	}
	return nil
}

// sequence applies the seq rule (see [sequencer]) to the batch, makes the
// plan durable — the accepted entries' payloads, then the entries with the
// new state in one append — and hands the decided items to the receipt
// producer. It returns the items left after a cut.
func (in *Ingester) sequence(ctx context.Context, batch []*item) (rest []*item, err error) {
	size := in.log.Size()
	p, err := in.seq.sequence(batch, size, seqSource{ctx, in})
	if err != nil {
		return nil, err
	}
	st := in.st
	st.Offsets = clone(in.st.Offsets)
	for _, it := range batch[:p.next] {
		k := offsetKey(it.topic, it.partition)
		if it.offset+1 > st.Offsets[k] {
			st.Offsets[k] = it.offset + 1
		}
	}
	st.Departments = p.marks
	accepted := make([]*item, 0, len(p.decisions))
	answered := make([]*item, 0, len(p.decisions)) // every item that gets a receipt, in order
	for _, d := range p.decisions {
		it, env := d.it, d.it.env
		switch d.outcome {
		case seqAccepted:
			it.leaf, it.outcome = d.leaf, schema.StatusAccepted
			accepted = append(accepted, it)
			switch env.Kind {
			case schema.KindDepartmentKey:
				st.KeyLeaves = append(st.KeyLeaves, d.leaf)
			case schema.KindSchema:
				st.SchemaLeaves = append(st.SchemaLeaves, d.leaf)
			}
		case seqDuplicate:
			it.leaf, it.outcome = d.leaf, schema.StatusDuplicate
		case seqEquivocation:
			it.err = d.err
			if e := d.err.(*equivocationError); e.Held {
				in.logger.Error("equivocation", "department", e.Department, "seq", e.Seq, "held_digest", e.Have, "received_digest", e.Got)
			} else {
				in.logger.Error("equivocation", "department", e.Department, "seq", e.Seq, "leaf", e.Leaf,
					"logged_digest", e.Have, "received_digest", e.Got)
			}
		case seqReplay, seqRejected:
			it.err = d.err
		case seqDropped:
			in.m.heldDropped.Inc()
			in.logger.Warn("pending set full; dropping early message, the sender will re-send",
				"department", env.Department, "seq", env.Seq, "next", d.next)
		}
		if d.outcome.receipted() {
			answered = append(answered, it)
		}
	}
	rest = batch[p.next:]

	if len(accepted) > 0 || len(answered) > 0 {
		entries := make([][]byte, len(accepted))
		ds := make([][]string, len(accepted))
		for i, it := range accepted {
			entries[i] = it.raw
			ds[i] = it.discl
		}
		start := time.Now()
		if err := in.payloads.Put(size, ds); err != nil {
			return nil, err
		}
		state, err := json.Marshal(st)
		if err != nil {
			return nil, fmt.Errorf("ingest: couldn't encode state: %w", err)
		}
		if _, err := in.log.Append(ctx, entries, state); err != nil {
			return nil, fmt.Errorf("ingest: couldn't append batch: %w", err)
		}
		in.m.observeStage(stageAppend, start)
		in.st = st
		in.seq.commit(p)
		for _, it := range accepted {
			in.leaves[it.env.Department] = append(in.leaves[it.env.Department], it.leaf)
		}
		in.m.accepted.Add(float64(len(accepted)))
		in.m.logSize.Set(float64(in.log.Size()))
		if in.wit != nil {
			in.wit.Notify()
		}
	}
	in.m.held.Set(float64(in.seq.heldCount()))
	if in.answers == nil || len(answered) == 0 {
		return rest, in.answer(ctx, answered)
	}
	select {
	case in.answers <- answered:
		return rest, nil
	default:
	}
	// The receipt producer is behind (receipts waiting for the witnesses,
	// or a slow receipts topic): wait, keeping the pause state current.
	t := time.NewTicker(pushbackPoll)
	defer t.Stop()
	for {
		select {
		case in.answers <- answered:
			return rest, nil
		case <-t.C:
			in.refreshPause()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// admit checks an entry the seq rule accepts at the leaf it gets: the key
// it was verified with must be valid there (check resolved it at the
// highest leaf it could get). A department.key or schema entry is applied
// to the key ring or catalog now, so the entries after the cut it makes
// are checked under it.
func (in *Ingester) admit(it *item, leaf uint64) error {
	env := it.env
	pub, err := in.keys.ResolveKey(env.Department, env.KeyID, leaf)
	if err != nil || !bytes.Equal(pub, it.pub) {
		return &schema.SignatureError{Department: env.Department, Seq: env.Seq, KeyID: env.KeyID, Reason: fmt.Sprintf("key not valid at index %d", leaf), Err: schema.ErrUnknownKey}
	}
	switch env.Kind {
	case schema.KindDepartmentKey:
		return in.keys.Apply(env, leaf)
	case schema.KindSchema:
		return in.catalog.AddVersion(env.Department, env.Schema.RecordType)
	}
	return nil
}

// seqSource is the [seqLog] of one sequence call: the Ingester's log and
// key ring.
type seqSource struct {
	ctx context.Context
	in  *Ingester
}

func (s seqSource) Logged(dept string, seq uint64) ([]byte, uint64, bool, error) {
	ls := s.in.leaves[dept]
	if seq == 0 || seq > uint64(len(ls)) {
		return nil, 0, false, nil
	}
	leaf := ls[seq-1]
	raw, err := s.in.log.Entry(s.ctx, leaf) // merkle caches decoded bundles: runs of duplicates are cheap
	if err != nil {
		return nil, 0, false, fmt.Errorf("ingest: couldn't read leaf %d: %w", leaf, err)
	}
	return raw, leaf, true, nil
}

func (s seqSource) Admit(it *item, leaf uint64) error { return s.in.admit(it, leaf) }

// answer produces one receipt per item (with a proof for logged ones) to
// the receipts topic, and rejected messages to the rejected topic.
func (in *Ingester) answer(ctx context.Context, items []*item) error {
	if len(items) == 0 {
		return nil
	}
	// Receipts carry proofs against the published checkpoint: wait until
	// one covers every logged item (at once without witnesses).
	need := uint64(0)
	for _, it := range items {
		if it.err == nil {
			need = max(need, it.leaf+1)
		}
	}
	if need > 0 {
		if err := in.log.WaitPublished(ctx, need); err != nil {
			return err
		}
	}
	if in.wit != nil { // the batch loop may be idle now: keep the gauge true
		size, pub := in.log.Size(), in.log.PublishedSize()
		in.m.unwitnessed.Set(float64(size - min(size, pub)))
	}
	start := time.Now()
	defer in.m.observeStage(stageReceipts, start)
	out := make([]kafka.Message, 0, len(items))
	for _, it := range items {
		r := schema.Receipt{EnvelopeDigest: it.digest, Department: string(it.key)}
		if it.env != nil {
			r.Department, r.Seq = it.env.Department, it.env.Seq
		}
		if it.err != nil {
			r.Status, r.Reason, r.Detail = schema.StatusRejected, schema.ReasonOf(it.err), it.err.Error()
			if r.Department == "" {
				r.Department = "unknown"
			}
			in.m.rejected.WithLabelValues(r.Reason).Inc()
			in.logger.Warn("rejected", "department", r.Department, "seq", r.Seq, "reason", r.Reason, "detail", r.Detail,
				"topic", it.topic, "partition", it.partition, "offset", it.offset)
		} else {
			p, err := in.log.ProofBundle(ctx, it.leaf)
			if err != nil {
				return fmt.Errorf("ingest: couldn't build proof for leaf %d: %w", it.leaf, err)
			}
			r.Status, r.Leaf, r.Proof = it.outcome, it.leaf, string(p.Encode())
			if it.outcome == schema.StatusDuplicate {
				in.m.duplicates.Inc()
			}
		}
		val, err := r.Encode()
		if err != nil {
			return fmt.Errorf("ingest: couldn't encode receipt: %w", err)
		}
		out = append(out, kafka.Message{Topic: in.cfg.ReceiptsTopic, Key: []byte(r.Department), Value: val})
		if it.err != nil {
			out = append(out, kafka.Message{Topic: in.cfg.RejectedTopic, Key: []byte(r.Department), Value: it.value,
				Headers: []kafka.Header{
					{Key: "crossledger-reason", Value: []byte(r.Reason)},
					{Key: "crossledger-detail", Value: []byte(r.Detail)},
					{Key: "crossledger-source", Value: []byte(fmt.Sprintf("%s/%d@%d", it.topic, it.partition, it.offset))},
				}})
		}
	}
	// The batch is committed: a lost receipt only delays the sender, whose
	// re-send gets the duplicate receipt. Retry a while, then move on.
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = in.writer.WriteMessages(ctx, out...); err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(time.Duration(100<<attempt) * time.Millisecond)
	}
	in.m.receiptErrors.Inc()
	in.logger.Error("couldn't produce receipts; senders will re-send", "n", len(items), "err", err)
	return nil
}

func clone[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
