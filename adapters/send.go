package adapters

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// sendLoop is the sender: it first sends the outbox backlog, then writes
// each committed batch with one Kafka write, in commit order, and
// completes its callers. A batch waits for the backlog (see [Publisher]).
func (p *Publisher) sendLoop() {
	p.mu.Lock()
	if err := p.sendUnsent(p.sendCtx); err != nil && !errors.Is(err, ErrClosed) {
		p.cfg.Logger.Warn("couldn't send the outbox backlog; re-sending it later", "err", err)
	}
	p.mu.Unlock()
	for b := range p.toSend {
		complete(b.reqs, p.send(b))
	}
}

// send writes b, behind the unsent backlog, and returns the error of each
// of its messages (nil: all sent).
func (p *Publisher) send(b *sendBatch) []error {
	first := b.reqs[0].seqs[0]
	lastReq := b.reqs[len(b.reqs)-1]
	last := lastReq.seqs[len(lastReq.seqs)-1]
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	p.sentMu.Lock()
	for _, r := range b.reqs {
		for _, seq := range r.seqs {
			p.sentAt[seq] = now
		}
	}
	p.sentMu.Unlock()
	var err error
	if p.unsentLo != 0 {
		if uerr := p.sendUnsent(p.sendCtx); uerr != nil {
			err = fmt.Errorf("adapters: held back behind unsent seqs: %w", uerr)
		}
	}
	if err == nil {
		err = p.writer.WriteMessages(p.sendCtx, b.msgs...)
	}
	if err == nil {
		return nil
	}
	p.addUnsent(first, last)
	return messageErrs(err, len(b.msgs))
}

// messageErrs spreads the error of a write of n messages over them: a
// kafka.WriteErrors has one per message; any other error is every
// message's.
func messageErrs(err error, n int) []error {
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) && len(werrs) == n {
		return werrs
	}
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// complete gives each request the first error of its messages (errs, in
// the order of reqs' seqs; nil: none failed) and releases its caller.
func complete(reqs []*pubReq, errs []error) {
	i := 0
	for _, r := range reqs {
		for range r.seqs {
			if errs != nil && errs[i] != nil && r.sendErr == nil {
				r.sendErr = errs[i]
			}
			i++
		}
		close(r.sent)
	}
}

// addUnsent adds the seqs lo–hi to the unsent range, which stays one
// range: nothing is written while it is not empty, so what it spans that
// was written is at most a failed write's partial success, and is only
// sent twice. p.mu must be held.
func (p *Publisher) addUnsent(lo, hi uint64) {
	if p.unsentLo == 0 {
		p.unsentLo, p.unsentHi = lo, hi
		return
	}
	p.unsentLo, p.unsentHi = min(p.unsentLo, lo), max(p.unsentHi, hi)
}

// sendUnsent writes the pending rows of the unsent range, in seq order,
// MaxBatch per write, whatever their next_attempt, and schedules each
// page's re-send ResendAfter later (so resendDue's rule about the highest
// settled seq applies to them only once this process has sent them). It
// stops at the first failure, keeping the rest unsent, and before a page
// when the publisher is closing. p.mu must be held.
func (p *Publisher) sendUnsent(ctx context.Context) error {
	for p.unsentLo != 0 {
		select {
		case <-p.quit:
			return ErrClosed
		default:
		}
		page, err := p.ob.pendingBetween(ctx, p.unsentLo, p.unsentHi, p.cfg.MaxBatch)
		if err != nil {
			return fmt.Errorf("adapters: couldn't read the outbox backlog: %w", err)
		}
		if len(page) == 0 { // settled meanwhile
			p.unsentLo, p.unsentHi = 0, 0
			return nil
		}
		first, last := page[0].seq, page[len(page)-1].seq
		if err := p.writer.WriteMessages(ctx, p.messages(page)...); err != nil {
			return fmt.Errorf("adapters: couldn't send seqs %d–%d of the outbox backlog: %w", first, last, err)
		}
		if last >= p.unsentHi {
			p.unsentLo, p.unsentHi = 0, 0
		} else {
			p.unsentLo = last + 1
		}
		// One statement for the page: the rows between first and last
		// that are still pending are exactly the page.
		if err := p.ob.sentBetween(ctx, first, last, p.cfg.Now().Add(p.cfg.ResendAfter).UnixMilli()); err != nil {
			return err
		}
		p.cfg.Logger.Info("sent outbox backlog", "first", first, "last", last, "n", len(page))
	}
	return nil
}

// messages returns the Kafka messages of rows.
func (p *Publisher) messages(rows []sendRow) []kafka.Message {
	msgs := make([]kafka.Message, len(rows))
	for i, r := range rows {
		msgs[i] = kafka.Message{Key: p.key, Value: r.message}
	}
	return msgs
}

// resendLoop sends what this process has not written yet (the outbox
// backlog, failed writes; see [Publisher]), then re-sends pending messages
// whose receipt is overdue, in seq order, with exponential backoff per
// message; while receipts keep arriving, only those below the highest seq
// answered (see [resendBelow]): every row it considers was sent by this
// process.
func (p *Publisher) resendLoop(ctx context.Context) error {
	tick := time.NewTicker(max(p.cfg.ResendAfter/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if err := p.resendDue(ctx); err != nil && ctx.Err() == nil {
			p.cfg.Logger.Warn("couldn't re-send", "err", err)
		}
	}
}

// resendDue sends the unsent backlog, then re-sends up to 1000 overdue
// pending messages and schedules their next attempts.
func (p *Publisher) resendDue(ctx context.Context) error {
	p.mu.Lock() // keep re-sends and new sends in seq order
	defer p.mu.Unlock()
	// What this process has not written goes first, whatever the rule
	// below says: it is not queued in ingest, it is missing there.
	if err := p.sendUnsent(ctx); err != nil {
		return err
	}
	now := p.cfg.Now()
	below, bounded := resendBelow(now, p.lastSettled.Load(), p.maxSettled.Load(), p.cfg.ResendAfter)
	due, err := p.ob.dueBefore(ctx, now.UnixMilli(), below, bounded, 1000)
	if err != nil || len(due) == 0 {
		return err
	}
	if err := p.writer.WriteMessages(ctx, p.messages(due)...); err != nil {
		return err
	}
	err = p.ob.resent(ctx, due, func(r sendRow) int64 {
		return now.Add(backoff(r.attempts, p.cfg.ResendAfter, p.cfg.MaxResendAfter)).UnixMilli()
	})
	if err != nil {
		return err
	}
	p.cfg.Logger.Info("re-sent unacknowledged messages", "n", len(due))
	return nil
}

// resendBelow returns the seq (exclusive) below which overdue messages
// are re-sent; bounded is false when all of them are. lastSettled is
// when a receipt last settled a row (Unix ns; 0: never), maxSettled the
// highest seq settled.
//
// While receipts are flowing (one settled within resendAfter), ingest
// answers a department's seqs in order: a pending seq above the highest
// answered one is queued behind the others, not lost, and re-sending it
// would only make ingest verify it twice (under a backlog, every message
// would be sent twice). Below it, it is a gap: re-send.
func resendBelow(now time.Time, lastSettled int64, maxSettled uint64, resendAfter time.Duration) (below uint64, bounded bool) {
	if lastSettled != 0 && now.Sub(time.Unix(0, lastSettled)) < resendAfter {
		return maxSettled, true
	}
	return 0, false
}

// backoff is how long a message sent attempts times waits for its receipt
// before the next re-send: resendAfter doubled per attempt, at most
// maxWait.
func backoff(attempts int, resendAfter, maxWait time.Duration) time.Duration {
	wait := resendAfter << min(attempts, 20)
	if wait > maxWait || wait <= 0 {
		return maxWait
	}
	return wait
}
