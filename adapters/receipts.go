package adapters

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/crossledger/crossledger/internal/topics"
	"github.com/crossledger/crossledger/schema"
)

// Run consumes receipts and re-sends unacknowledged messages until ctx is
// done. Receipts are settled in batches: whatever has arrived (up to
// MaxBatch) is verified and retired in one transaction.
func (p *Publisher) Run(ctx context.Context) error {
	parts, err := topics.Partitions(ctx, p.cfg.Brokers, p.cfg.ReceiptsTopic)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	in := make(chan receiptMsg, p.cfg.MaxBatch)
	for _, part := range parts {
		start, err := p.receiptOffset(gctx, part)
		if err != nil {
			return err
		}
		g.Go(func() error { return p.readReceipts(gctx, part, start, in) })
	}
	g.Go(func() error { return p.settleLoop(gctx, in) })
	g.Go(func() error { return p.resendLoop(gctx) })
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// receiptMsg is one message of the receipts topic.
type receiptMsg struct {
	partition int
	offset    int64
	ours      bool // keyed by our department
	value     []byte
}

// readReceipts reads partition part of the receipts topic from start
// into in until ctx is done.
func (p *Publisher) readReceipts(ctx context.Context, part int, start int64, in chan<- receiptMsg) error {
	return topics.ReadPartition(ctx, p.cfg.Brokers, p.cfg.ReceiptsTopic, part, start, 250*time.Millisecond,
		func(m kafka.Message) error {
			select {
			case in <- receiptMsg{partition: part, offset: m.Offset, ours: string(m.Key) == p.cfg.Department, value: m.Value}:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
}

// settleLoop settles what has arrived on in, up to MaxBatch receipts at a
// time, until ctx is done.
func (p *Publisher) settleLoop(ctx context.Context, in <-chan receiptMsg) error {
	for {
		var batch []receiptMsg
		select {
		case <-ctx.Done():
			return nil
		case m := <-in:
			batch = append(batch, m)
		}
	more:
		for len(batch) < p.cfg.MaxBatch {
			select {
			case m := <-in:
				batch = append(batch, m)
			default:
				break more
			}
		}
		if err := p.handleReceipts(ctx, batch); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// receiptOffset returns where to start reading partition part: the stored
// offset, or (first run) the partition's current end, stored now.
func (p *Publisher) receiptOffset(ctx context.Context, part int) (int64, error) {
	next, ok, err := p.ob.receiptOffset(ctx, part)
	if err != nil || ok {
		return next, err
	}
	conn, err := kafka.DialLeader(ctx, "tcp", p.cfg.Brokers[0], p.cfg.ReceiptsTopic, part)
	if err != nil {
		return 0, fmt.Errorf("adapters: couldn't dial receipts/%d leader: %w", part, err)
	}
	defer conn.Close()
	// Receipts for messages already in the outbox may predate a first
	// run that started late: then start from the beginning.
	empty, err := p.ob.empty(ctx)
	if err != nil {
		return 0, err
	}
	if empty {
		next, err = conn.ReadLastOffset()
	} else {
		next, err = conn.ReadFirstOffset()
	}
	if err != nil {
		return 0, fmt.Errorf("adapters: couldn't read receipts/%d offsets: %w", part, err)
	}
	if err := p.ob.initReceiptOffset(ctx, part, next); err != nil {
		return 0, err
	}
	return next, nil
}

// handleReceipts settles a batch of receipts: it decodes ours, looks up
// their pending rows, decides each one ([settle]), and retires the rows
// and stores the receipt offsets in one transaction; the callbacks run
// after it committed. Receipts that don't settle a pending row (other
// senders' seqs, repeats, forged digests) change nothing but the offset.
func (p *Publisher) handleReceipts(ctx context.Context, batch []receiptMsg) error {
	rs, offsets := p.decodeReceipts(batch)
	rows, err := p.lookUp(ctx, rs)
	if err != nil {
		return err
	}
	out := p.decide(rs, rows)
	if err := p.ob.settle(ctx, out, offsets); err != nil {
		return err
	}
	p.report(out)
	return nil
}

// decodeReceipts decodes the receipts of batch keyed by our department
// (logging those that don't decode) and returns them with the next
// offset of each partition batch covers.
func (p *Publisher) decodeReceipts(batch []receiptMsg) ([]*schema.Receipt, map[int]int64) {
	offsets := map[int]int64{}
	var rs []*schema.Receipt
	for _, m := range batch {
		offsets[m.partition] = m.offset + 1
		if !m.ours {
			continue
		}
		r, err := schema.DecodeReceipt(m.value)
		if err != nil {
			p.cfg.Logger.Warn("undecodable receipt", "partition", m.partition, "offset", m.offset, "err", err)
			continue
		}
		rs = append(rs, r)
	}
	return rs, offsets
}

// lookUp returns the pending row of each receipt of rs (nil: none), by
// seq with one query, or by digest for a receipt without a seq (its
// envelope was unreadable).
func (p *Publisher) lookUp(ctx context.Context, rs []*schema.Receipt) ([]*pendingRow, error) {
	var seqs []any
	for _, r := range rs {
		if r.Seq != 0 {
			seqs = append(seqs, r.Seq)
		}
	}
	bySeq, err := p.ob.pendingBySeq(ctx, seqs)
	if err != nil {
		return nil, err
	}
	out := make([]*pendingRow, len(rs))
	for i, r := range rs {
		if r.Seq != 0 {
			if w, ok := bySeq[r.Seq]; ok {
				out[i] = &w
			}
			continue
		}
		w, ok, err := p.ob.pendingByDigest(ctx, r.EnvelopeDigest)
		if err != nil {
			return nil, err
		}
		if ok {
			out[i] = &w
		}
	}
	return out, nil
}

// decide settles each receipt of rs against its row, logging the
// receipts that keep a row pending, and returns the decisions that
// settle a row, in receipt order.
func (p *Publisher) decide(rs []*schema.Receipt, rows []*pendingRow) []decision {
	var out []decision
	settled := map[uint64]bool{} // earlier in this batch
	verify := func(r *schema.Receipt, envelope []byte) error {
		if err := VerifyReceipt(r, envelope, p.verifier); err != nil {
			return err
		}
		return p.checkPolicy(r)
	}
	for i, r := range rs {
		seen := rows[i] != nil && settled[rows[i].seq]
		d := settle(r, rows[i], seen, verify)
		switch d.verdict {
		case verdictOtherEnvelope:
			p.cfg.Logger.Warn("receipt for another envelope with our seq", "seq", d.seq, "receipt_digest", r.EnvelopeDigest, "ours", rows[i].digest, "status", r.Status)
		case verdictUnverified:
			p.cfg.Logger.Error("receipt does not verify; keeping message pending", "seq", d.seq, "err", d.err)
		}
		if d.settles() {
			settled[d.seq] = true
			out = append(out, d)
		}
	}
	return out
}

// report records the progress of the settled decisions ds (for
// resendDue) and tells the callbacks.
func (p *Publisher) report(ds []decision) {
	if len(ds) > 0 {
		p.lastSettled.Store(p.cfg.Now().UnixNano())
	}
	for _, d := range ds {
		if d.seq > p.maxSettled.Load() {
			p.maxSettled.Store(d.seq) // only this goroutine stores
		}
		p.sentMu.Lock()
		sent := p.sentAt[d.seq]
		delete(p.sentAt, d.seq)
		p.sentMu.Unlock()
		if d.verdict == verdictRejected {
			p.cfg.Logger.Warn("message rejected", "seq", d.seq, "reason", d.reason, "detail", d.detail)
			if p.cfg.OnRejected != nil {
				p.cfg.OnRejected(Rejection{Seq: d.seq, Reason: d.reason, Detail: d.detail})
			}
		} else if p.cfg.OnAccepted != nil {
			p.cfg.OnAccepted(Accepted{Seq: d.seq, Leaf: d.leaf, Sent: sent})
		}
	}
}
