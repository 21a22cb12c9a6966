package adapters

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/mod/sumdb/note"

	"github.com/crossledger/crossledger/internal/topics"
	"github.com/crossledger/crossledger/schema"
)

// Publisher is a signer's envelope outbox: it numbers envelopes of any
// kind (access entries, grants, record changes built by a [Client]),
// signs them, stores them durably, publishes them to Kafka and retires
// each one when its receipt verifies. It knows no catalog and no record
// secret. PublishEnvelope may be called concurrently; Run must be running
// for receipts and re-sends.
//
// # Group commit
//
// Publishing calls enqueue their envelopes and wait. One committer
// goroutine takes everything queued (up to [PublisherConfig.MaxBatch]
// envelopes), assigns consecutive seqs in queue order, signs them (on all
// cores), stores every row and the next seq in one fsynced transaction,
// and hands the batch to one sender goroutine, which sends it with one
// Kafka write and completes each caller. While one batch is being sent
// the next is being committed; sends stay in seq order. So a single
// caller pays one fsync and one round trip, and many concurrent callers
// share them.
//
// # Backlog first
//
// Opening finds the outbox's pending rows: a previous process's, some
// sent, some maybe committed but never sent, none known to be in flight
// (an ingest that restarted meanwhile dropped the early messages it held).
// Before the sender writes anything new, it re-sends all of them, in seq
// order, MaxBatch per write; publishing calls meanwhile still commit to
// the outbox and wait for their turn. So a gap a crash left is filled
// first, and what follows it is not piled up in ingest's held set (its
// max_pending) waiting for each gap row's next_attempt. A batch whose
// write fails joins that backlog: until the backlog is written, nothing
// with a higher seq is (its callers get [ErrQueued]), and the re-send loop
// retries the backlog before anything else.
//
// Shutdown: Close stops accepting calls, lets the committer store and the
// sender send what was queued, then closes the writer and the outbox.
type Publisher struct {
	cfg    PublisherConfig
	ob     *outbox
	writer *kafka.Writer
	key    []byte // every message's Kafka key: the department
	// mu serialises Kafka writes (the sender's and resendDue's), so
	// messages leave in seq order.
	mu sync.Mutex
	// unsentLo–unsentHi (guarded by mu; 0–0: none) covers the pending
	// rows this process has not written to Kafka: at open, every pending
	// row; later, batches whose write failed or was held back behind
	// them. See sendUnsent.
	unsentLo, unsentHi uint64

	queue    chan *pubReq
	toSend   chan *sendBatch
	closeMu  sync.RWMutex // held shared while enqueuing; Close takes it to stop
	closed   bool
	quit     chan struct{}
	done     chan struct{} // closed when the committer and sender have stopped
	sendCtx  context.Context
	stopSend context.CancelFunc

	verifier note.Verifier // cfg.LogVerifier, remembering good signatures
	policyOK policyCache   // checkpoints that met cfg.WitnessPolicy

	sentMu sync.Mutex
	sentAt map[uint64]time.Time // first send of pending seqs, for Accepted

	// Receipt progress, for resendDue: when a receipt last settled a row
	// (Unix ns of cfg.Now) and the highest seq settled.
	lastSettled atomic.Int64
	maxSettled  atomic.Uint64
}

// OpenPublisher opens (creating) the outbox, prepares the Kafka writer
// and starts the committer and the sender. On the first Run it records
// the receipts topic's end offsets, so the receipt consumer reads every
// receipt for messages published from then on.
func OpenPublisher(ctx context.Context, cfg PublisherConfig) (*Publisher, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ob, err := openOutbox(ctx, cfg.OutboxPath)
	if err != nil {
		return nil, err
	}
	p := &Publisher{cfg: cfg, ob: ob, key: []byte(cfg.Department),
		queue:    make(chan *pubReq, cfg.MaxBatch),
		toSend:   make(chan *sendBatch, 1),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		verifier: &cachingVerifier{Verifier: cfg.LogVerifier},
		sentAt:   map[uint64]time.Time{},
	}
	lo, hi, ok, err := ob.pendingRange(ctx)
	if err != nil {
		ob.close()
		return nil, err
	}
	if ok {
		p.unsentLo, p.unsentHi = lo, hi
	}
	p.writer = topics.NewWriter(cfg.Brokers, cfg.ChangesTopic)
	p.sendCtx, p.stopSend = context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.commitLoop() }()
	go func() { defer wg.Done(); p.sendLoop() }()
	go func() { wg.Wait(); close(p.done) }()
	return p, nil
}

// Department is the department p signs as.
func (p *Publisher) Department() string { return p.cfg.Department }

// Close stops accepting publishing calls, stores and sends (one attempt)
// what was already queued, and closes the writer and the outbox. Stop Run
// first.
func (p *Publisher) Close() error {
	p.closeMu.Lock()
	already := p.closed
	p.closed = true
	p.closeMu.Unlock()
	if already {
		return nil
	}
	close(p.quit)
	<-p.done
	p.stopSend()
	werr := p.writer.Close()
	if err := p.ob.close(); err != nil {
		return err
	}
	return werr
}

// PublishEnvelope publishes an envelope of any kind (an access entry, a
// grant, a revoke, a schema version…) with its disclosures: the publisher
// sets V, Department, Seq and Time, signs it, stores it in the outbox (seq
// and row in one transaction) and sends it. It returns the seq. An error
// matching [ErrQueued] means the message is durable but not sent yet; any
// other error means nothing was stored.
func (p *Publisher) PublishEnvelope(ctx context.Context, env *schema.Envelope, ds []schema.Disclosure) (uint64, error) {
	env.V, env.Department = 1, p.cfg.Department
	return one(p.submit(ctx, []pubItem{{env: env, ds: ds}}))
}

// one returns the only seq of a single-envelope call.
func one(seqs []uint64, err error) (uint64, error) {
	if len(seqs) == 0 {
		return 0, err
	}
	return seqs[0], err
}

// Status reports the outbox state of seq.
func (p *Publisher) Status(ctx context.Context, seq uint64) (Status, error) {
	return p.ob.status(ctx, seq)
}

// Pending returns how many messages await a verified receipt.
func (p *Publisher) Pending(ctx context.Context) (int, error) {
	return p.ob.pendingCount(ctx)
}

// pubItem is one envelope of a publishing call, and what the committer
// made of it.
type pubItem struct {
	env      *schema.Envelope
	ds       []schema.Disclosure
	digest   string
	envelope []byte // canonical signed envelope
	value    []byte // the encoded Kafka message
	err      error
}

// A pubReq is one publishing call, queued for the committer.
type pubReq struct {
	ctx   context.Context
	items []pubItem
	// state: reqQueued until the committer takes it (reqTaken) or the
	// caller gives up first (reqAbandoned: nothing will be stored).
	state atomic.Int32

	// Set by the committer before it closes stored: the seqs, or why
	// nothing was stored.
	seqs   []uint64
	err    error
	stored chan struct{}
	// Set by the sender before it closes sent: the first send error of
	// the request's messages, if any.
	sendErr error
	sent    chan struct{}
}

const (
	reqQueued int32 = iota
	reqTaken
	reqAbandoned
)

// submit queues items as one request and waits for their seqs.
func (p *Publisher) submit(ctx context.Context, items []pubItem) ([]uint64, error) {
	r := &pubReq{ctx: ctx, items: items, stored: make(chan struct{}), sent: make(chan struct{})}
	p.closeMu.RLock()
	if p.closed {
		p.closeMu.RUnlock()
		return nil, ErrClosed
	}
	select {
	case p.queue <- r:
		p.closeMu.RUnlock()
	case <-ctx.Done():
		p.closeMu.RUnlock()
		return nil, ctx.Err()
	}
	select {
	case <-r.stored:
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return nil, ctx.Err()
		}
		<-r.stored // taken: storing is bounded (SQLite busy timeout), wait for it
	}
	if r.err != nil {
		return nil, r.err
	}
	select {
	case <-r.sent:
	case <-ctx.Done():
		return r.seqs, fmt.Errorf("%w: %s: %v", ErrQueued, seqRange(r.seqs), ctx.Err())
	}
	if r.sendErr != nil {
		return r.seqs, fmt.Errorf("%w: %s: %v", ErrQueued, seqRange(r.seqs), r.sendErr)
	}
	return r.seqs, nil
}

func seqRange(seqs []uint64) string {
	if len(seqs) == 1 {
		return fmt.Sprintf("seq %d", seqs[0])
	}
	return fmt.Sprintf("seqs %d–%d", seqs[0], seqs[len(seqs)-1])
}
