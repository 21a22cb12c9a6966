package gateway

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
)

// grantWatch keeps every grant and revoke entry of the log in memory, read
// from the log itself (not from the projection), so that authorisation for
// a query answered against checkpoint size S is exactly the fold of the
// grant and revoke entries below S: a revoke takes effect for every query
// whose checkpoint contains it, however far the projection lags.
//
// Grant entries are few (one per owner, consumer, purpose and type and
// change of mind), so holding them all is cheap; the scan reads every
// entry once, with a byte prefilter before decoding.
type grantWatch struct {
	log    Ledger
	logger *slog.Logger
	poll   time.Duration

	mu      sync.Mutex
	cond    *sync.Cond
	scanned uint64             // entries [0, scanned) have been scanned
	events  []store.GrantEvent // in leaf order
	err     error              // a scan error that stops the watch (corrupt entry)
}

func newGrantWatch(log Ledger, logger *slog.Logger, poll time.Duration) *grantWatch {
	w := &grantWatch{log: log, logger: logger, poll: poll}
	w.cond = sync.NewCond(&w.mu)
	return w
}

// grantScanChunk is how many entries one scan step reads.
const grantScanChunk = 4096

// run scans new entries until ctx is done.
func (w *grantWatch) run(ctx context.Context) {
	t := time.NewTicker(w.poll)
	defer t.Stop()
	for {
		if err := w.scan(ctx); err != nil && ctx.Err() == nil {
			w.logger.Error("gateway: couldn't scan the log for grants; queries will fail closed", "err", err)
		}
		select {
		case <-ctx.Done():
			w.mu.Lock()
			if w.err == nil {
				w.err = ctx.Err()
			}
			w.cond.Broadcast()
			w.mu.Unlock()
			return
		case <-t.C:
		}
	}
}

// scan reads the entries appended since the last scan.
func (w *grantWatch) scan(ctx context.Context) error {
	size, err := ledgerSize(w.log)
	if err != nil {
		return err
	}
	for {
		w.mu.Lock()
		from := w.scanned
		w.mu.Unlock()
		if from >= size {
			return nil
		}
		n := min(size-from, grantScanChunk)
		ents, err := w.log.Entries(ctx, from, n)
		if err != nil {
			return fmt.Errorf("reading entries [%d, %d): %w", from, from+n, err)
		}
		var found []store.GrantEvent
		for i, e := range ents {
			if !bytes.Contains(e, []byte(`"kind":"grant"`)) && !bytes.Contains(e, []byte(`"kind":"revoke"`)) {
				continue
			}
			env, err := schema.DecodeEnvelope(e)
			if err != nil {
				// Everything in the log passed ingest's strict decode;
				// a failure here is corruption.
				w.mu.Lock()
				w.err = fmt.Errorf("entry %d does not decode: %w", from+uint64(i), err)
				w.cond.Broadcast()
				w.mu.Unlock()
				return w.err
			}
			if ev, ok := store.GrantEventOf(&store.Entry{Leaf: from + uint64(i), Department: env.Department, Grant: env.Grant, Revoke: env.Revoke}); ok {
				found = append(found, ev)
			}
		}
		w.mu.Lock()
		w.events = append(w.events, found...)
		w.scanned = from + n
		w.cond.Broadcast()
		w.mu.Unlock()
	}
}

// upTo returns the grant events of leaves below size, waiting up to wait
// for the scan to get there.
func (w *grantWatch) upTo(ctx context.Context, size uint64, wait time.Duration) ([]store.GrantEvent, error) {
	deadline := time.Now().Add(wait)
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.scanned < size {
		if w.err != nil {
			return nil, w.err
		}
		left := time.Until(deadline)
		if left <= 0 || ctx.Err() != nil {
			return nil, fmt.Errorf("%w: grants scanned to %d of %d entries", errGrantsBehind, w.scanned, size)
		}
		// sync.Cond has no timed wait: a timer broadcasts.
		t := time.AfterFunc(min(left, w.poll), func() {
			w.mu.Lock()
			w.cond.Broadcast()
			w.mu.Unlock()
		})
		w.cond.Wait()
		t.Stop()
	}
	n, _ := slices.BinarySearchFunc(w.events, size, func(ev store.GrantEvent, s uint64) int {
		if ev.Leaf < s {
			return -1
		}
		return 1
	})
	return w.events[:n:n], nil
}

// authz is the authorisation of one consumer department for one purpose,
// as of one checkpoint.
type authz struct {
	consumer, purpose string
	now               time.Time
	events            []store.GrantEvent // all grant events below the checkpoint
	perms             map[[2]string][]store.Permission
}

func newAuthz(events []store.GrantEvent, consumer, purpose string, now time.Time) *authz {
	a := &authz{consumer: consumer, purpose: purpose, now: now, perms: map[[2]string][]store.Permission{}}
	for _, ev := range events {
		if ev.Consumer == consumer && ev.Purpose == purpose {
			a.events = append(a.events, ev)
		}
	}
	for _, p := range store.FoldGrants(a.events, now) {
		k := [2]string{p.Owner, p.Type}
		a.perms[k] = append(a.perms[k], p)
	}
	return a
}

// decision is what the caller may see of one record version.
type decision struct {
	granted map[string]bool   // field → value may be disclosed
	denied  map[string]string // field → reason it may not
}

// decide applies the grants to one record version with the given subject
// tags; subject is the tag of the citizen the query names ("" if none).
func (a *authz) decide(owner, recordType string, fields []string, subjects []string, subject string) decision {
	d := decision{granted: map[string]bool{}, denied: map[string]string{}}
	if owner == a.consumer {
		// A department sees its own records whole; the access is
		// logged all the same.
		for _, f := range fields {
			d.granted[f] = true
		}
		return d
	}
	for _, p := range a.perms[[2]string{owner, recordType}] {
		// A row condition other than a satisfied "subject" withholds the
		// fields (fail closed: ingest admits no other condition today).
		if p.Condition != "" && !(p.Condition == "subject" && subject != "" && slices.Contains(subjects, subject)) {
			for _, f := range p.Fields {
				if !d.granted[f] {
					d.denied[f] = "row-condition"
				}
			}
			continue
		}
		for _, f := range p.Fields {
			d.granted[f] = true
			delete(d.denied, f)
		}
	}
	for _, f := range fields {
		if d.granted[f] {
			continue
		}
		if _, ok := d.denied[f]; !ok {
			d.denied[f] = a.reason(owner, recordType, f)
		}
	}
	return d
}

// reason explains why field is not in force: the last grant event that
// named it decides.
func (a *authz) reason(owner, recordType, field string) string {
	reason := "no-grant"
	for _, ev := range a.events {
		if ev.Owner != owner || ev.Type != recordType {
			continue
		}
		switch {
		case ev.Kind == schema.KindRevoke && (len(ev.Fields) == 0 || slices.Contains(ev.Fields, field)):
			if reason != "no-grant" {
				reason = "revoked"
			}
		case ev.Kind == schema.KindGrant && slices.Contains(ev.Fields, field):
			reason = "expired" // it was granted; if it is not in force now, its grant expired
		}
	}
	return reason
}

// anyGrant reports whether the consumer has any grant in force from owner
// for the purpose (on any type), or is the owner.
func (a *authz) anyGrant(owner string) bool {
	if owner == a.consumer {
		return true
	}
	for k := range a.perms {
		if k[0] == owner {
			return true
		}
	}
	return false
}

// mayRead reports whether the consumer has some permission in force on
// owner's recordType, or is the owner.
func (a *authz) mayRead(owner, recordType string) bool {
	return owner == a.consumer || len(a.perms[[2]string{owner, recordType}]) > 0
}

// rowScope is which rows of a record type a consumer may see anything of.
type rowScope int

const (
	// noRows: no permission in force on the type.
	noRows rowScope = iota
	// subjectRows: every permission carries the row condition "subject",
	// so only rows about the citizen the query names are visible; a query
	// that names no citizen sees none, and must learn nothing of the
	// others — not their keys, not their number, not whether one exists.
	subjectRows
	// allRows: the consumer owns the type or has a permission without
	// a row condition, so every row shows at least those fields.
	allRows
)

// scope reports the rows of owner's recordType the consumer may see.
func (a *authz) scope(owner, recordType string) rowScope {
	if owner == a.consumer {
		return allRows
	}
	ps := a.perms[[2]string{owner, recordType}]
	if len(ps) == 0 {
		return noRows
	}
	for _, p := range ps {
		if p.Condition == "" {
			return allRows
		}
	}
	return subjectRows
}

// filterable returns the fields of owner's recordType a records() filter
// may name: a field the caller may see on every row the filter could
// match. Without a subject that is a field of a permission without a row
// condition; with one (the rows are then restricted to that citizen's
// before the filter applies) also the fields granted under the subject
// condition.
func (a *authz) filterable(owner string, rt *schema.RecordType, withSubject bool) map[string]bool {
	out := map[string]bool{}
	if owner == a.consumer {
		for _, f := range rt.Fields {
			out[f.Name] = true
		}
		return out
	}
	for _, p := range a.perms[[2]string{owner, rt.Name}] {
		if p.Condition != "" && !(p.Condition == "subject" && withSubject) {
			continue
		}
		for _, f := range p.Fields {
			out[f] = true
		}
	}
	return out
}
