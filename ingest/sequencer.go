package ingest

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/crossledger/crossledger/schema"
)

// A sequencer applies the seq rule of the package doc to checked
// messages. It does no I/O, starts no goroutines and logs nothing: what it
// decides comes back as a [seqPlan], and the caller makes the plan durable
// (or not) and says so with [sequencer.commit].
//
// # State
//
// Per department, the last logged seq and its envelope digest (the marks,
// as committed with the log), and the held messages: those whose seq is
// ahead of the department's next one, at most maxPending per department.
// Held messages are the sequencer's alone, in memory, and change as soon
// as [sequencer.sequence] decides; the marks change only on commit.
//
// # Input
//
// A batch of checked messages in the order they were read (an item whose
// err is set failed its check and is only passed through), the size of the
// log, and a [seqLog]: the lookup of logged entries, and the admission of
// a message at the leaf it would get — the one check that depends on the
// position (the department's key valid at that index, and what a
// department.key or schema entry changes).
//
// # Output
//
// One [seqDecision] per message decided, in order: the batch's, with
// released held messages right after the message that released them. An
// accepted message gets the next leaf, so the accepted ones, in order, are
// the entries to append. A batch is cut after an accepted department.key
// or schema entry: the messages after it are not decided, and must be
// sequenced again once the plan is durable, checked under the keys and
// schemas it changed ([seqPlan.next]).
type sequencer struct {
	maxPending int
	marks      map[string]deptMark // committed; never changed in place
	// held: by department and seq. A department's map stays when it
	// empties, to be reused: gaps tend to recur.
	held  map[string]map[uint64]*item
	nheld int
	// buf is the last plan's decisions, reused by the next.
	buf []seqDecision
}

// seqLog is what a [sequencer] consults outside itself.
type seqLog interface {
	// Logged returns the envelope bytes and the leaf of dept's logged seq,
	// and ok false if dept has no such seq in the log. An error stops the
	// sequencing.
	Logged(dept string, seq uint64) (raw []byte, leaf uint64, ok bool, err error)
	// Admit is asked about each message the seq rule accepts, with the leaf
	// it gets; it may apply what the entry changes (keys, schemas). An
	// error rejects the message instead: the seq stays free.
	Admit(it *item, leaf uint64) error
}

// seqOutcome is what the seq rule made of a message.
type seqOutcome uint8

const (
	// seqAccepted: the department's next seq; the message gets
	// [seqDecision.leaf].
	seqAccepted seqOutcome = iota + 1
	// seqDuplicate: seq ≤ n with the bytes of the entry logged (or accepted
	// earlier in the plan) at [seqDecision.leaf].
	seqDuplicate
	// seqEquivocation: seq ≤ n, or a held seq, with other bytes; err is an
	// [*equivocationError].
	seqEquivocation
	// seqReplay: seq ≤ n, but no entry is logged under it (seq 0).
	seqReplay
	// seqRejected: the message failed its check (item.err), or its
	// admission at its leaf; err says why.
	seqRejected
	// seqHeld: a gap; the message is held until the missing seqs arrive.
	seqHeld
	// seqHeldAgain: the bytes already held under that seq; nothing changes.
	seqHeldAgain
	// seqDropped: a gap, but the department's held set is full; the
	// sender will re-send.
	seqDropped
)

var outcomeNames = [...]string{seqAccepted: "accepted", seqDuplicate: "duplicate", seqEquivocation: "equivocation",
	seqReplay: "replay", seqRejected: "rejected", seqHeld: "held", seqHeldAgain: "held-again", seqDropped: "dropped"}

func (o seqOutcome) String() string {
	if int(o) < len(outcomeNames) && outcomeNames[o] != "" {
		return outcomeNames[o]
	}
	return fmt.Sprintf("seqOutcome(%d)", o)
}

// receipted reports whether the outcome gets a receipt now (the first
// five do). Held and dropped messages get theirs later, or from a re-send.
func (o seqOutcome) receipted() bool { return o <= seqRejected }

// seqDecision is the seq rule's decision about one message.
type seqDecision struct {
	it      *item
	outcome seqOutcome
	// leaf is the accepted message's leaf, the duplicate's original one,
	// or the leaf of the entry an equivocation contradicts (0 if held).
	leaf uint64
	// next is the department's next expected seq when it was decided (0
	// for a message that failed its check).
	next uint64
	// err is why a message is rejected: set exactly for equivocation,
	// replay and rejected.
	err error
}

// seqPlan is what [sequencer.sequence] decided about a batch.
type seqPlan struct {
	// decisions are valid until the next call of sequence, which reuses
	// them.
	decisions []seqDecision
	// next is the first batch item not decided: batch[next:] is the rest
	// after a cut (all of it if a released held entry cut the batch before
	// it began), empty without a cut.
	next int
	// marks are every department's last seq and digest once the plan's
	// accepted entries are logged: the map to commit with them.
	marks map[string]deptMark
}

// equivocationError is the evidence of an equivocation: a department
// signed two different envelopes under one seq.
type equivocationError struct {
	Department string
	Seq        uint64
	// Held: the other envelope is held, not logged at Leaf.
	Held bool
	Leaf uint64
	// Have is the digest of the logged or held envelope, Got the received
	// one's.
	Have, Got string
}

func (e *equivocationError) Error() string {
	if e.Held {
		return fmt.Sprintf("%s seq %d already held with digest %s, got %s: %v", e.Department, e.Seq, e.Have, e.Got, schema.ErrEquivocation)
	}
	return fmt.Sprintf("%s seq %d is logged at leaf %d with digest %s, got digest %s: %v",
		e.Department, e.Seq, e.Leaf, e.Have, e.Got, schema.ErrEquivocation)
}

func (e *equivocationError) Unwrap() error { return schema.ErrEquivocation }

// newSequencer returns a sequencer at the committed marks, holding nothing.
func newSequencer(maxPending int, marks map[string]deptMark) *sequencer {
	if marks == nil {
		marks = map[string]deptMark{}
	}
	return &sequencer{maxPending: maxPending, marks: marks, held: map[string]map[uint64]*item{}}
}

// heldCount returns how many messages are held.
func (s *sequencer) heldCount() int { return s.nheld }

// commit makes p's marks the committed ones, once its accepted entries are
// durable. Call it for the latest plan only; a plan that is not committed
// leaves the marks as they were, but held messages it released are gone.
func (s *sequencer) commit(p seqPlan) { s.marks = p.marks }

// sequence decides batch, which follows a log of size entries. First it
// releases held messages that are next in line (left so by a cut), in
// department order; then it decides the batch in order until a cut. Only
// an error from lg stops it.
func (s *sequencer) sequence(batch []*item, size uint64, lg seqLog) (seqPlan, error) {
	clear(s.buf) // drop the last batch's items
	r := seqRun{s: s, lg: lg, leaf: size, marks: s.marks, d: s.buf[:0]}
	defer func() { s.buf = r.d }()
	if s.nheld > 0 {
		var depts []string
		for d, h := range s.held {
			if len(h) > 0 {
				depts = append(depts, d)
			}
		}
		slices.Sort(depts)
		for _, d := range depts {
			if r.release(d) {
				return r.plan(0), nil
			}
		}
	}
	for i, it := range batch {
		cut, err := r.decide(it)
		if err != nil {
			return seqPlan{}, err
		}
		if cut {
			return r.plan(i + 1), nil
		}
	}
	return r.plan(len(batch)), nil
}

// seqRun is one call of [sequencer.sequence].
type seqRun struct {
	s     *sequencer
	lg    seqLog
	leaf  uint64 // the next accepted message's
	marks map[string]deptMark
	owned bool // marks is a copy: s.marks is not changed in place
	d     []seqDecision
	// accepted[dept][i] is the index in d of dept's seq c+1+i, c being
	// its committed seq: a run accepts a department's seqs in order.
	accepted map[string][]int32
}

func (r *seqRun) plan(next int) seqPlan {
	return seqPlan{decisions: r.d, next: next, marks: r.marks}
}

// decide applies the seq rule to it and reports whether the batch is cut
// after it.
func (r *seqRun) decide(it *item) (cut bool, err error) {
	if it.err != nil {
		r.d = append(r.d, seqDecision{it: it, outcome: seqRejected, err: it.err})
		return false, nil
	}
	dept, seq := it.env.Department, it.env.Seq
	next := r.marks[dept].Seq + 1
	switch {
	case seq == next:
		return r.accept(it, next) && (cuts(it) || r.release(dept)), nil
	case seq < next:
		d := seqDecision{it: it, next: next}
		var raw []byte
		var digest string
		if c := r.s.marks[dept].Seq; seq > c {
			prev := r.d[r.accepted[dept][seq-c-1]]
			raw, digest, d.leaf = prev.it.raw, prev.it.digest, prev.leaf
		} else {
			var ok bool
			raw, d.leaf, ok, err = r.lg.Logged(dept, seq)
			if err != nil {
				return false, err
			}
			if !ok {
				d.outcome, d.leaf = seqReplay, 0
				d.err = fmt.Errorf("%s seq %d, next expected %d: %w", dept, seq, next, schema.ErrReplay)
				r.d = append(r.d, d)
				return false, nil
			}
		}
		if bytes.Equal(raw, it.raw) {
			d.outcome = seqDuplicate
		} else {
			if digest == "" {
				digest = schema.EnvelopeDigest(raw)
			}
			d.outcome = seqEquivocation
			d.err = &equivocationError{Department: dept, Seq: seq, Leaf: d.leaf, Have: digest, Got: it.digest}
		}
		r.d = append(r.d, d)
		return false, nil
	default: // a gap: hold until it fills, never reorder
		d := seqDecision{it: it, next: next}
		held := r.s.held[dept]
		switch old, ok := held[seq]; {
		case ok && bytes.Equal(old.raw, it.raw):
			d.outcome = seqHeldAgain
		case ok:
			d.outcome = seqEquivocation
			d.err = &equivocationError{Department: dept, Seq: seq, Held: true, Have: old.digest, Got: it.digest}
		case len(held) >= r.s.maxPending:
			d.outcome = seqDropped
		default:
			if held == nil {
				held = map[uint64]*item{}
				r.s.held[dept] = held
			}
			held[seq] = it
			r.s.nheld++
			d.outcome = seqHeld
		}
		r.d = append(r.d, d)
		return false, nil
	}
}

// accept admits it, the department's next seq, at the next leaf, and
// reports whether it was accepted.
func (r *seqRun) accept(it *item, next uint64) bool {
	if err := r.lg.Admit(it, r.leaf); err != nil {
		r.d = append(r.d, seqDecision{it: it, outcome: seqRejected, next: next, err: err})
		return false
	}
	if !r.owned {
		r.marks, r.owned = clone(r.marks), true
	}
	dept := it.env.Department
	r.marks[dept] = deptMark{Seq: it.env.Seq, Digest: it.digest}
	if r.accepted == nil {
		r.accepted = map[string][]int32{}
	}
	r.accepted[dept] = append(r.accepted[dept], int32(len(r.d)))
	r.d = append(r.d, seqDecision{it: it, outcome: seqAccepted, leaf: r.leaf, next: next})
	r.leaf++
	return true
}

// release accepts dept's held messages while the next one is held, and
// reports whether one of them cuts the batch.
func (r *seqRun) release(dept string) (cut bool) {
	held := r.s.held[dept]
	for {
		next := r.marks[dept].Seq + 1
		it, ok := held[next]
		if !ok {
			return false
		}
		delete(held, next)
		r.s.nheld--
		if !r.accept(it, next) {
			return false
		}
		if cuts(it) {
			return true
		}
	}
}

// cuts reports whether an accepted entry cuts its batch: department.key
// and schema entries change how every later entry is checked.
func cuts(it *item) bool {
	return it.env.Kind == schema.KindDepartmentKey || it.env.Kind == schema.KindSchema
}
