package adapters

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/segmentio/kafka-go"

	"github.com/crossledger/crossledger/schema"
)

// commitLoop is the committer: it stores queued requests in batches until
// Close, then stores what is left and stops the sender.
func (p *Publisher) commitLoop() {
	defer close(p.toSend)
	for {
		var first *pubReq
		select {
		case first = <-p.queue:
		case <-p.quit:
			// Close holds off new requests; store those already queued.
			for {
				select {
				case r := <-p.queue:
					p.commit(p.gather(r))
				default:
					return
				}
			}
		}
		p.commit(p.gather(first))
	}
}

// gather returns first and whatever else is queued, up to MaxBatch items.
func (p *Publisher) gather(first *pubReq) []*pubReq {
	batch := []*pubReq{first}
	n := len(first.items)
	for n < p.cfg.MaxBatch {
		select {
		case r := <-p.queue:
			batch = append(batch, r)
			n += len(r.items)
		default:
			return batch
		}
	}
	return batch
}

// sendBatch is one committed batch for the sender.
type sendBatch struct {
	reqs []*pubReq
	msgs []kafka.Message
}

// commit numbers, signs and stores reqs in one transaction and hands them
// to the sender. A request with an invalid envelope fails alone and the
// others are renumbered, so seqs stay dense.
func (p *Publisher) commit(reqs []*pubReq) {
	live := takeLive(reqs)
	if len(live) == 0 {
		return
	}
	now := p.cfg.Now()
	stamp := now.UTC().Format("2006-01-02T15:04:05Z")
	var rows []newRow
	err := p.ob.append(now.Add(p.cfg.ResendAfter).UnixMilli(), func(next uint64) []newRow {
		live = p.number(live, next, stamp)
		rows = rowsOf(live)
		return rows
	})
	if err != nil {
		for _, r := range live {
			r.err = err
			close(r.stored)
		}
		return
	}
	if len(live) == 0 {
		return
	}
	msgs := make([]kafka.Message, len(rows))
	for i, w := range rows {
		msgs[i] = kafka.Message{Key: p.key, Value: w.message}
	}
	for _, r := range live {
		for i := range r.items {
			r.items[i].ds, r.items[i].envelope = nil, nil // the sender needs value only
		}
		close(r.stored)
	}
	p.toSend <- &sendBatch{reqs: live, msgs: msgs}
}

// takeLive claims the requests of reqs whose callers still wait, failing
// those whose context ended, and returns the rest.
func takeLive(reqs []*pubReq) []*pubReq {
	live := reqs[:0]
	for _, r := range reqs {
		if !r.state.CompareAndSwap(reqQueued, reqTaken) {
			continue // abandoned by its caller
		}
		if err := r.ctx.Err(); err != nil {
			r.err = err
			close(r.stored)
			continue
		}
		live = append(live, r)
	}
	return live
}

// number gives live's items consecutive seqs from next, stamps and seals
// them, and returns the requests whose items all sealed; each other one
// fails with its first item's error. The rest are renumbered (and
// re-signed) until none fails, so no seq is skipped.
func (p *Publisher) number(live []*pubReq, next uint64, stamp string) []*pubReq {
	for len(live) > 0 {
		seq := next
		var items []*pubItem
		for _, r := range live {
			r.seqs = make([]uint64, len(r.items))
			for i := range r.items {
				it := &r.items[i]
				it.env.Seq, it.env.Time, it.err = seq, stamp, nil
				r.seqs[i] = seq
				seq++
				items = append(items, it)
			}
		}
		p.seal(items)
		ok := live[:0]
		failed := false
		for _, r := range live {
			if r.err = itemsErr(r.items); r.err != nil {
				close(r.stored)
				failed = true
			} else {
				ok = append(ok, r)
			}
		}
		live = ok
		if !failed {
			break
		}
	}
	return live
}

// itemsErr is the first error among items, naming the change when there
// are several.
func itemsErr(items []pubItem) error {
	for i, it := range items {
		if it.err != nil {
			if len(items) > 1 {
				return fmt.Errorf("adapters: change %d: %w", i, it.err)
			}
			return it.err
		}
	}
	return nil
}

// rowsOf returns the outbox rows of reqs' sealed items, in seq order.
func rowsOf(reqs []*pubReq) []newRow {
	var rows []newRow
	for _, r := range reqs {
		for i := range r.items {
			it := &r.items[i]
			rows = append(rows, newRow{seq: r.seqs[i], digest: it.digest, envelope: it.envelope, message: it.value})
		}
	}
	return rows
}

// seal signs, validates and encodes items (numbered and stamped), setting
// each item's err on failure. Signing is spread over all cores.
func (p *Publisher) seal(items []*pubItem) {
	workers := min(runtime.GOMAXPROCS(0), len(items)/16+1)
	if workers <= 1 {
		for _, it := range items {
			p.sealOne(it)
		}
		return
	}
	var wg sync.WaitGroup
	per := (len(items) + workers - 1) / workers
	for lo := 0; lo < len(items); lo += per {
		part := items[lo:min(lo+per, len(items))]
		wg.Go(func() {
			for _, it := range part {
				p.sealOne(it)
			}
		})
	}
	wg.Wait()
}

func (p *Publisher) sealOne(it *pubItem) {
	if err := schema.Sign(it.env, p.cfg.Key); err != nil {
		it.err = err
		return
	}
	if err := it.env.Validate(); err != nil {
		it.err = err
		return
	}
	m, err := schema.NewMessage(it.env, it.ds)
	if err != nil {
		it.err = err
		return
	}
	if len(m.Envelope) > schema.MaxEntrySize {
		it.err = fmt.Errorf("adapters: envelope is %d bytes: %w", len(m.Envelope), schema.ErrTooLarge)
		return
	}
	if it.value, err = m.Encode(); err != nil {
		it.err = err
		return
	}
	it.envelope = []byte(m.Envelope)
	it.digest = schema.EnvelopeDigest(m.Envelope)
}
