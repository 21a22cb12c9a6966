package ingest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/schema"
)

// Messages for the table: an envelope's bytes are "dept/seq:body", so a
// decision reads as what it is about. A body starting with "nokey" fails
// admission (no key valid at its leaf).
func msg(dept string, seq uint64, body string) *item {
	return seqItem(schema.KindRecordChange, dept, seq, body)
}
func keyMsg(dept string, seq uint64, body string) *item {
	return seqItem(schema.KindDepartmentKey, dept, seq, body)
}
func schemaMsg(dept string, seq uint64, body string) *item {
	return seqItem(schema.KindSchema, dept, seq, body)
}

func seqItem(kind schema.Kind, dept string, seq uint64, body string) *item {
	raw := fmt.Appendf(nil, "%s/%d:%s", dept, seq, body)
	return &item{value: raw, raw: raw, digest: schema.EnvelopeDigest(raw),
		env: &schema.Envelope{V: 1, Kind: kind, Department: dept, Seq: seq}}
}

// failed is a message that failed its check: no envelope at all.
func failed(value string) *item {
	return &item{value: []byte(value), err: &schema.EntryError{Part: "envelope", Reason: "not JSON", Err: schema.ErrMalformed}}
}

// fakeSeqLog is a log of committed plans and an admission that rejects
// "nokey" bodies; it records what it was asked.
type fakeSeqLog struct {
	t       *testing.T
	entries map[string][][]byte // by department; seq s at [s-1]
	leaves  map[string][]uint64
	size    uint64
	fail    error // Logged fails with it
	admits  []string
}

func newFakeSeqLog(t *testing.T) *fakeSeqLog {
	return &fakeSeqLog{t: t, entries: map[string][][]byte{}, leaves: map[string][]uint64{}}
}

func (l *fakeSeqLog) Logged(dept string, seq uint64) ([]byte, uint64, bool, error) {
	if l.fail != nil {
		return nil, 0, false, l.fail
	}
	if seq == 0 || seq > uint64(len(l.entries[dept])) {
		return nil, 0, false, nil
	}
	return l.entries[dept][seq-1], l.leaves[dept][seq-1], true, nil
}

func (l *fakeSeqLog) Admit(it *item, leaf uint64) error {
	l.admits = append(l.admits, fmt.Sprintf("%s@%d", it.raw, leaf))
	if strings.Contains(string(it.raw), ":nokey") {
		return fmt.Errorf("no key valid at %d: %w", leaf, schema.ErrUnknownKey)
	}
	return nil
}

// append logs it at the next leaf, as the durable step does.
func (l *fakeSeqLog) append(it *item) {
	d := it.env.Department
	if it.env.Seq != uint64(len(l.entries[d]))+1 {
		l.t.Fatalf("logging %s after %s seq %d", it.raw, d, len(l.entries[d]))
	}
	l.entries[d] = append(l.entries[d], it.raw)
	l.leaves[d] = append(l.leaves[d], l.size)
	l.size++
}

func (l *fakeSeqLog) marks() map[string]deptMark {
	m := map[string]deptMark{}
	for d, es := range l.entries {
		m[d] = deptMark{Seq: uint64(len(es)), Digest: schema.EnvelopeDigest(es[len(es)-1])}
	}
	return m
}

// show renders a decision for the table.
func show(d seqDecision) string {
	what := string(d.it.raw)
	if d.it.env == nil {
		what = string(d.it.value)
	}
	s := d.outcome.String() + " " + what
	switch d.outcome {
	case seqAccepted, seqDuplicate:
		s += fmt.Sprintf(" @%d", d.leaf)
	case seqEquivocation:
		if strings.Contains(d.err.Error(), "already held") {
			s += " vs held"
		} else {
			s += fmt.Sprintf(" vs @%d", d.leaf)
		}
	case seqDropped:
		s += fmt.Sprintf(" next %d", d.next)
	case seqRejected:
		s += ": " + d.err.Error()
	}
	return s
}

type seqStep struct {
	batch []*item
	want  []string // show of each decision, in order
	rest  int      // batch items left undecided by a cut
	// uncommitted: the plan's append fails, so it is not committed.
	uncommitted bool
	err         error // sequence fails with it (the log lookup fails)
}

func TestSequencer(t *testing.T) {
	for _, tc := range []struct {
		name       string
		maxPending int // default 1024
		logged     []*item
		held       []*item // injected: held before the first step
		steps      []seqStep
		wantHeld   int
		wantMarks  map[string]uint64 // committed seq per department at the end
	}{
		// seq n+1: accepted.
		{
			name: "next seq accepted",
			steps: []seqStep{{
				batch: []*item{msg("tax", 1, "a"), msg("tax", 2, "b")},
				want:  []string{"accepted tax/1:a @0", "accepted tax/2:b @1"},
			}},
			wantMarks: map[string]uint64{"tax": 2},
		},
		{
			name:   "next seq after the log",
			logged: []*item{msg("tax", 1, "a"), msg("civil", 1, "a"), msg("tax", 2, "b")},
			steps: []seqStep{{
				batch: []*item{msg("tax", 3, "c"), msg("civil", 2, "b")},
				want:  []string{"accepted tax/3:c @3", "accepted civil/2:b @4"},
			}},
			wantMarks: map[string]uint64{"tax": 3, "civil": 2},
		},
		{
			name: "departments are numbered apart",
			steps: []seqStep{{
				batch: []*item{msg("tax", 1, "a"), msg("civil", 1, "a"), msg("civil", 2, "b"), msg("tax", 2, "b")},
				want:  []string{"accepted tax/1:a @0", "accepted civil/1:a @1", "accepted civil/2:b @2", "accepted tax/2:b @3"},
			}},
			wantMarks: map[string]uint64{"tax": 2, "civil": 2},
		},
		// A message that failed its check, or its admission at its leaf,
		// is rejected and leaves its seq free (and the leaf unused).
		{
			name: "failed check passes through",
			steps: []seqStep{{
				batch: []*item{failed("garbage"), msg("tax", 1, "a")},
				want:  []string{"rejected garbage: malformed entry: envelope: not JSON", "accepted tax/1:a @0"},
			}},
			wantMarks: map[string]uint64{"tax": 1},
		},
		{
			name: "failed admission leaves the seq free",
			steps: []seqStep{{
				batch: []*item{msg("tax", 1, "nokey"), msg("tax", 1, "a"), msg("tax", 2, "b")},
				want: []string{"rejected tax/1:nokey: no key valid at 0: " + schema.ErrUnknownKey.Error(),
					"accepted tax/1:a @0", "accepted tax/2:b @1"},
			}},
			wantMarks: map[string]uint64{"tax": 2},
		},
		// seq ≤ n with the bytes of the logged entry: a duplicate.
		{
			name:   "duplicate of logged entries",
			logged: []*item{msg("tax", 1, "a"), msg("civil", 1, "a"), msg("tax", 2, "b")},
			steps: []seqStep{{
				batch: []*item{msg("tax", 2, "b"), msg("tax", 1, "a"), msg("civil", 1, "a"), msg("tax", 3, "c")},
				want:  []string{"duplicate tax/2:b @2", "duplicate tax/1:a @0", "duplicate civil/1:a @1", "accepted tax/3:c @3"},
			}},
			wantMarks: map[string]uint64{"tax": 3, "civil": 1},
		},
		{
			name: "duplicate of an entry accepted in the batch",
			steps: []seqStep{{
				batch: []*item{msg("tax", 1, "a"), msg("tax", 2, "b"), msg("tax", 1, "a")},
				want:  []string{"accepted tax/1:a @0", "accepted tax/2:b @1", "duplicate tax/1:a @0"},
			}},
			wantMarks: map[string]uint64{"tax": 2},
		},
		// seq ≤ n with other bytes: equivocation.
		{
			name:   "equivocation against the log",
			logged: []*item{msg("tax", 1, "a")},
			steps: []seqStep{{
				batch: []*item{msg("tax", 1, "x"), msg("tax", 2, "b")},
				want:  []string{"equivocation tax/1:x vs @0", "accepted tax/2:b @1"},
			}},
			wantMarks: map[string]uint64{"tax": 2},
		},
		{
			name: "equivocation against the batch",
			steps: []seqStep{{
				batch: []*item{msg("tax", 1, "a"), msg("tax", 1, "x")},
				want:  []string{"accepted tax/1:a @0", "equivocation tax/1:x vs @0"},
			}},
			wantMarks: map[string]uint64{"tax": 1},
		},
		{
			name:   "seq 0 is a replay",
			logged: []*item{msg("tax", 1, "a")},
			steps: []seqStep{{
				batch: []*item{msg("tax", 0, "a")},
				want:  []string{"replay tax/0:a"},
			}},
			wantMarks: map[string]uint64{"tax": 1},
		},
		{
			name:   "a failing log lookup stops sequencing",
			logged: []*item{msg("tax", 1, "a")},
			steps: []seqStep{{
				batch: []*item{msg("tax", 1, "a")},
				err:   errLookup,
			}},
			wantMarks: map[string]uint64{"tax": 1},
		},
		// seq > n+1: held until the missing seqs arrive, never reordered.
		{
			name: "gap held until it fills",
			steps: []seqStep{{
				batch: []*item{msg("tax", 3, "c"), msg("civil", 1, "a"), msg("tax", 2, "b"), msg("tax", 1, "a"), msg("tax", 4, "d")},
				want: []string{"held tax/3:c", "accepted civil/1:a @0", "held tax/2:b",
					"accepted tax/1:a @1", "accepted tax/2:b @2", "accepted tax/3:c @3", "accepted tax/4:d @4"},
			}},
			wantMarks: map[string]uint64{"tax": 4, "civil": 1},
		},
		{
			name: "gap held across batches",
			steps: []seqStep{
				{batch: []*item{msg("tax", 2, "b")}, want: []string{"held tax/2:b"}},
				{batch: []*item{msg("civil", 1, "a")}, want: []string{"accepted civil/1:a @0"}},
				{
					batch: []*item{msg("tax", 1, "a")},
					want:  []string{"accepted tax/1:a @1", "accepted tax/2:b @2"},
				},
			},
			wantMarks: map[string]uint64{"tax": 2, "civil": 1},
		},
		{
			name: "held again with the same bytes",
			steps: []seqStep{{
				batch: []*item{msg("tax", 3, "c"), msg("tax", 3, "c")},
				want:  []string{"held tax/3:c", "held-again tax/3:c"},
			}},
			wantHeld: 1,
		},
		{
			name: "held message released with a failed admission",
			steps: []seqStep{
				{
					batch: []*item{msg("tax", 2, "nokey"), msg("tax", 3, "c"), msg("tax", 1, "a")},
					want: []string{"held tax/2:nokey", "held tax/3:c", "accepted tax/1:a @0",
						"rejected tax/2:nokey: no key valid at 1: " + schema.ErrUnknownKey.Error()},
				},
				{
					batch: []*item{msg("tax", 2, "b")},
					want:  []string{"accepted tax/2:b @1", "accepted tax/3:c @2"},
				},
			},
			wantMarks: map[string]uint64{"tax": 3},
		},
		// A held message, then another under its seq: equivocation; the
		// first one read is the one that counts.
		{
			name: "held message equivocated while held",
			steps: []seqStep{{
				batch: []*item{msg("tax", 2, "b"), msg("tax", 2, "x"), msg("tax", 1, "a"), msg("tax", 2, "x")},
				want: []string{"held tax/2:b", "equivocation tax/2:x vs held",
					"accepted tax/1:a @0", "accepted tax/2:b @1", "equivocation tax/2:x vs @1"},
			}},
			wantMarks: map[string]uint64{"tax": 2},
		},
		{
			name: "held message equivocated once logged",
			steps: []seqStep{
				{
					batch: []*item{msg("tax", 3, "c"), msg("tax", 1, "a"), msg("tax", 2, "b")},
					want:  []string{"held tax/3:c", "accepted tax/1:a @0", "accepted tax/2:b @1", "accepted tax/3:c @2"},
				},
				{
					batch: []*item{msg("tax", 3, "x"), msg("tax", 3, "c")},
					want:  []string{"equivocation tax/3:x vs @2", "duplicate tax/3:c @2"},
				},
			},
			wantMarks: map[string]uint64{"tax": 3},
		},
		// At most maxPending held per department; beyond, dropped.
		{
			name:       "full pending set",
			maxPending: 2,
			steps: []seqStep{
				{
					batch: []*item{msg("tax", 3, "c"), msg("tax", 4, "d"), msg("tax", 5, "e"), msg("civil", 2, "b"),
						msg("tax", 3, "c"), msg("tax", 4, "x"), msg("tax", 6, "f")},
					want: []string{"held tax/3:c", "held tax/4:d", "dropped tax/5:e next 1", "held civil/2:b",
						"held-again tax/3:c", "equivocation tax/4:x vs held", "dropped tax/6:f next 1"},
				},
				{
					batch: []*item{msg("tax", 1, "a"), msg("tax", 6, "f"), msg("tax", 2, "b"), msg("tax", 5, "e")},
					// tax/3 and tax/4 still fill the set.
					want: []string{"accepted tax/1:a @0", "dropped tax/6:f next 2",
						"accepted tax/2:b @1", "accepted tax/3:c @2", "accepted tax/4:d @3", "accepted tax/5:e @4"},
				},
				{batch: []*item{msg("tax", 6, "f")}, want: []string{"accepted tax/6:f @5"}},
			},
			wantHeld:  1, // civil/2
			wantMarks: map[string]uint64{"tax": 6},
		},
		// A batch is cut after an accepted department.key or schema entry.
		{
			name: "cut after a department.key entry",
			steps: []seqStep{
				{
					batch: []*item{msg("tax", 1, "a"), keyMsg("tax", 2, "k"), msg("tax", 3, "c"), msg("civil", 1, "a")},
					want:  []string{"accepted tax/1:a @0", "accepted tax/2:k @1"},
					rest:  2,
				},
				{
					batch: []*item{msg("tax", 3, "c"), msg("civil", 1, "a")},
					want:  []string{"accepted tax/3:c @2", "accepted civil/1:a @3"},
				},
			},
			wantMarks: map[string]uint64{"tax": 3, "civil": 1},
		},
		{
			name: "cut after a schema entry",
			steps: []seqStep{{
				batch: []*item{schemaMsg("tax", 1, "s"), msg("tax", 2, "b")},
				want:  []string{"accepted tax/1:s @0"},
				rest:  1,
			}},
			wantMarks: map[string]uint64{"tax": 1},
		},
		{
			name: "cut at the last message",
			steps: []seqStep{{
				batch: []*item{msg("tax", 1, "a"), keyMsg("tax", 2, "k")},
				want:  []string{"accepted tax/1:a @0", "accepted tax/2:k @1"},
			}},
			wantMarks: map[string]uint64{"tax": 2},
		},
		{
			name: "no cut after a rejected department.key entry",
			steps: []seqStep{{
				batch: []*item{keyMsg("tax", 1, "nokey"), msg("tax", 1, "a")},
				want: []string{"rejected tax/1:nokey: no key valid at 0: " + schema.ErrUnknownKey.Error(),
					"accepted tax/1:a @0"},
			}},
			wantMarks: map[string]uint64{"tax": 1},
		},
		{
			name: "no cut after a duplicate department.key entry",
			steps: []seqStep{
				{
					batch: []*item{keyMsg("tax", 1, "k")},
					want:  []string{"accepted tax/1:k @0"},
				},
				{
					batch: []*item{keyMsg("tax", 1, "k"), msg("tax", 2, "b")},
					want:  []string{"duplicate tax/1:k @0", "accepted tax/2:b @1"},
				},
			},
			wantMarks: map[string]uint64{"tax": 2},
		},
		{
			name: "held department.key entry cuts when released",
			steps: []seqStep{
				{
					batch: []*item{keyMsg("tax", 2, "k"), msg("tax", 3, "c"), msg("tax", 1, "a"), msg("civil", 1, "a")},
					want:  []string{"held tax/2:k", "held tax/3:c", "accepted tax/1:a @0", "accepted tax/2:k @1"},
					rest:  1,
				},
				{
					// tax/3 is next in line: released before the batch.
					batch: []*item{msg("civil", 1, "a")},
					want:  []string{"accepted tax/3:c @2", "accepted civil/1:a @3"},
				},
			},
			wantMarks: map[string]uint64{"tax": 3, "civil": 1},
		},
		{
			name: "held department.key entry cuts before the batch",
			steps: []seqStep{
				{
					batch: []*item{keyMsg("tax", 2, "k"), schemaMsg("tax", 3, "s"), msg("tax", 1, "a"), msg("civil", 1, "a")},
					want:  []string{"held tax/2:k", "held tax/3:s", "accepted tax/1:a @0", "accepted tax/2:k @1"},
					rest:  1,
				},
				{
					batch: []*item{msg("civil", 1, "a")},
					want:  []string{"accepted tax/3:s @2"},
					rest:  1,
				},
				{
					batch: []*item{msg("civil", 1, "a")},
					want:  []string{"accepted civil/1:a @3"},
				},
			},
			wantMarks: map[string]uint64{"tax": 3, "civil": 1},
		},
		{
			// Not reachable through the rule alone (a cut leaves at most
			// one department next in line), but the order is fixed anyway.
			name:   "held messages next in line released in department order",
			logged: []*item{msg("tax", 1, "a"), msg("civil", 1, "a")},
			held:   []*item{msg("tax", 2, "b"), msg("civil", 3, "c"), msg("civil", 2, "b")},
			steps: []seqStep{{
				batch: []*item{msg("tax", 3, "c")},
				want:  []string{"accepted civil/2:b @2", "accepted civil/3:c @3", "accepted tax/2:b @4", "accepted tax/3:c @5"},
			}},
			wantMarks: map[string]uint64{"tax": 3, "civil": 3},
		},
		// The marks move on commit only: a plan whose append failed
		// leaves them where they were.
		{
			name: "uncommitted plan",
			steps: []seqStep{
				{batch: []*item{msg("tax", 1, "a")}, want: []string{"accepted tax/1:a @0"}, uncommitted: true},
				{batch: []*item{msg("tax", 1, "a")}, want: []string{"accepted tax/1:a @0"}},
			},
			wantMarks: map[string]uint64{"tax": 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lg := newFakeSeqLog(t)
			for _, it := range tc.logged {
				lg.append(it)
			}
			mp := tc.maxPending
			if mp == 0 {
				mp = 1024
			}
			s := newSequencer(mp, lg.marks())
			for _, it := range tc.held {
				if s.held[it.env.Department] == nil {
					s.held[it.env.Department] = map[uint64]*item{}
				}
				s.held[it.env.Department][it.env.Seq] = it
				s.nheld++
			}
			for i, step := range tc.steps {
				if step.err != nil {
					lg.fail = step.err
				}
				before := maps.Clone(s.marks)
				snap := snapshot(step.batch)
				lg.admits = nil
				size := lg.size
				p, err := s.sequence(step.batch, size, lg)
				lg.fail = nil
				if step.err != nil {
					if !errors.Is(err, step.err) {
						t.Fatalf("step %d: sequence = %v, want %v", i, err, step.err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				var got []string
				for _, d := range p.decisions {
					got = append(got, show(d))
				}
				if !slices.Equal(got, step.want) {
					t.Fatalf("step %d decided\n\t%s\nwant\n\t%s", i, strings.Join(got, "\n\t"), strings.Join(step.want, "\n\t"))
				}
				if rest := len(step.batch) - p.next; rest != step.rest {
					t.Errorf("step %d: %d items left after the cut, want %d", i, rest, step.rest)
				}
				checkPlan(t, s, p, size, before, lg.admits)
				if !maps.Equal(s.marks, before) {
					t.Errorf("step %d: sequence changed the committed marks", i)
				}
				if got := snapshot(step.batch); !slices.Equal(got, snap) {
					t.Errorf("step %d: sequence changed its items", i)
				}
				if !step.uncommitted {
					for _, d := range p.decisions {
						if d.outcome == seqAccepted {
							lg.append(d.it)
						}
					}
					s.commit(p)
				}
			}
			n := 0
			for _, h := range s.held {
				n += len(h)
			}
			if s.heldCount() != tc.wantHeld || n != tc.wantHeld {
				t.Errorf("%d held (%d counted), want %d", n, s.heldCount(), tc.wantHeld)
			}
			want := map[string]deptMark{}
			for d, seq := range tc.wantMarks {
				want[d] = deptMark{Seq: seq, Digest: schema.EnvelopeDigest(lg.entries[d][seq-1])}
			}
			if !maps.Equal(s.marks, want) || !maps.Equal(lg.marks(), want) {
				t.Errorf("marks %v (log %v), want %v", s.marks, lg.marks(), want)
			}
		})
	}
}

var errLookup = errors.New("disk on fire")

// checkPlan checks what holds for every plan: accepted messages get the
// next leaves in order, each after its admission at that leaf; errors come
// exactly with the outcomes that reject; the marks are the committed ones
// moved to the last accepted seq.
func checkPlan(t *testing.T, s *sequencer, p seqPlan, size uint64, committed map[string]deptMark, admits []string) {
	t.Helper()
	leaf := size
	marks := maps.Clone(committed)
	var wantAdmits []string
	for _, d := range p.decisions {
		rejects := d.outcome == seqEquivocation || d.outcome == seqReplay || d.outcome == seqRejected
		if (d.err != nil) != rejects {
			t.Errorf("%s: err %v", show(d), d.err)
		}
		if d.outcome.receipted() == (d.outcome == seqHeld || d.outcome == seqHeldAgain || d.outcome == seqDropped) {
			t.Errorf("%s: receipted %v", show(d), d.outcome.receipted())
		}
		if d.it.env != nil && d.next != 0 && d.next != marks[d.it.env.Department].Seq+1 {
			t.Errorf("%s: next %d, department at %d", show(d), d.next, marks[d.it.env.Department].Seq)
		}
		switch {
		case d.outcome == seqAccepted:
			if d.leaf != leaf {
				t.Errorf("%s: leaf %d, want %d", show(d), d.leaf, leaf)
			}
			wantAdmits = append(wantAdmits, fmt.Sprintf("%s@%d", d.it.raw, leaf))
			marks[d.it.env.Department] = deptMark{Seq: d.it.env.Seq, Digest: d.it.digest}
			leaf++
		case d.outcome == seqRejected && d.it.err == nil:
			wantAdmits = append(wantAdmits, fmt.Sprintf("%s@%d", d.it.raw, leaf))
		}
	}
	if !slices.Equal(admits, wantAdmits) {
		t.Errorf("admitted %v, want %v", admits, wantAdmits)
	}
	if !maps.Equal(p.marks, marks) {
		t.Errorf("plan marks %v, want %v", p.marks, marks)
	}
}

// snapshot is what the Ingester reads and writes of items.
func snapshot(items []*item) []string {
	var out []string
	for _, it := range items {
		out = append(out, fmt.Sprintf("%v %d %q", it.err, it.leaf, it.outcome))
	}
	return out
}

// The rejections' texts are the receipts' details.
func TestSequencerErrors(t *testing.T) {
	lg := newFakeSeqLog(t)
	lg.append(msg("tax", 1, "a"))
	s := newSequencer(1024, lg.marks())
	logged, held, rival := msg("tax", 1, "x"), msg("tax", 3, "c"), msg("tax", 3, "y")
	p, err := s.sequence([]*item{logged, held, rival, msg("tax", 0, "z")}, lg.size, lg)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		outcome seqOutcome
		text    string
		reason  string
	}{
		{seqEquivocation, fmt.Sprintf("tax seq 1 is logged at leaf 0 with digest %s, got digest %s: %v",
			schema.EnvelopeDigest([]byte("tax/1:a")), logged.digest, schema.ErrEquivocation), schema.ReasonEquivocation},
		{seqHeld, "", ""},
		{seqEquivocation, fmt.Sprintf("tax seq 3 already held with digest %s, got %s: %v", held.digest, rival.digest, schema.ErrEquivocation),
			schema.ReasonEquivocation},
		{seqReplay, "tax seq 0, next expected 2: " + schema.ErrReplay.Error(), schema.ReasonReplay},
	} {
		d := p.decisions[i]
		text := ""
		if d.err != nil {
			text = d.err.Error()
		}
		if d.outcome != want.outcome || text != want.text || schema.ReasonOf(d.err) != want.reason {
			t.Errorf("decision %d: %v %q (%s), want %v %q (%s)", i, d.outcome, text, schema.ReasonOf(d.err), want.outcome, want.text, want.reason)
		}
	}
	e := p.decisions[0].err.(*equivocationError)
	if e.Department != "tax" || e.Seq != 1 || e.Held || e.Leaf != 0 || e.Got != logged.digest {
		t.Errorf("evidence %+v", e)
	}
	if !errors.Is(e, schema.ErrEquivocation) {
		t.Error("equivocation is not schema.ErrEquivocation")
	}
}

// BenchmarkSequencer measures the seq rule alone on batches of 1000
// messages from six departments: next in line, and each department's run
// reversed (held, then released).
func BenchmarkSequencer(b *testing.B) {
	const n = 1000
	depts := []string{"civil-affairs", "electricity", "market-regulation", "public-security", "real-estate", "tax"}
	for _, reversed := range []bool{false, true} {
		name := "accepted"
		if reversed {
			name = "gaps"
		}
		b.Run(name, func(b *testing.B) {
			var lg acceptAll
			s := newSequencer(1024, nil)
			seqs := map[string]uint64{}
			var size uint64
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				var batch []*item
				for i, d := range depts {
					run := make([]*item, n/len(depts)+min(1, max(0, n%len(depts)-i)))
					for j := range run {
						seqs[d]++
						run[j] = msg(d, seqs[d], "body")
					}
					if reversed {
						slices.Reverse(run)
					}
					batch = append(batch, run...)
				}
				b.StartTimer()
				p, err := s.sequence(batch, size, lg)
				if err != nil || p.next != len(batch) {
					b.Fatal(err, p.next)
				}
				size += n
				s.commit(p)
			}
		})
	}
}

// acceptAll admits everything and has nothing logged.
type acceptAll struct{}

func (acceptAll) Logged(string, uint64) ([]byte, uint64, bool, error) { return nil, 0, false, nil }
func (acceptAll) Admit(*item, uint64) error                           { return nil }

// refSequencer is the seq rule as Ingester.sequence had it before the
// sequencer (closures over the batch, the -1/-2 cut sentinel), with the
// I/O swapped for a fakeSeqLog: the oracle of TestSequencerMatchesReference.
type refSequencer struct {
	maxPending int
	marks      map[string]deptMark
	pending    map[string]map[uint64]*item
}

type refDecision struct {
	it      *item
	outcome seqOutcome
	leaf    uint64
	next    uint64 // of a dropped one, for its log line
	err     error
}

func (r *refSequencer) sequence(batch []*item, lg *fakeSeqLog) (out []refDecision, rest int, marks map[string]deptMark, err error) {
	size := lg.size
	var accepted int
	cut := -1
	marks = clone(r.marks)
	batchSeq := map[string]map[uint64]refDecision{}
	accept := func(it *item) bool {
		leaf := size + uint64(accepted)
		if err := lg.Admit(it, leaf); err != nil {
			out = append(out, refDecision{it: it, outcome: seqRejected, err: err})
			return false
		}
		accepted++
		d := refDecision{it: it, outcome: seqAccepted, leaf: leaf}
		out = append(out, d)
		marks[it.env.Department] = deptMark{Seq: it.env.Seq, Digest: it.digest}
		if batchSeq[it.env.Department] == nil {
			batchSeq[it.env.Department] = map[uint64]refDecision{}
		}
		batchSeq[it.env.Department][it.env.Seq] = d
		return true
	}
	isCut := func(it *item) bool {
		return it.env.Kind == schema.KindDepartmentKey || it.env.Kind == schema.KindSchema
	}
	drain := func(dept string) bool {
		for {
			next := marks[dept].Seq + 1
			held, ok := r.pending[dept][next]
			if !ok {
				return false
			}
			delete(r.pending[dept], next)
			if accept(held) {
				if isCut(held) {
					return true
				}
				continue
			}
			return false
		}
	}
	for _, dept := range slices.Sorted(maps.Keys(r.pending)) {
		if drain(dept) {
			cut = -2
			break
		}
	}
	for i, it := range batch {
		if cut != -1 {
			break
		}
		if it.err != nil {
			out = append(out, refDecision{it: it, outcome: seqRejected, err: it.err})
			continue
		}
		env := it.env
		next := marks[env.Department].Seq + 1
		switch {
		case env.Seq == next:
			if accept(it) && (isCut(it) || drain(env.Department)) {
				cut = i
			}
		case env.Seq < next:
			var prev *refDecision
			if d, ok := batchSeq[env.Department][env.Seq]; ok {
				prev = &d
			} else {
				raw, leaf, ok, err := lg.Logged(env.Department, env.Seq)
				if err != nil {
					return nil, 0, nil, err
				}
				if ok {
					prev = &refDecision{it: &item{raw: raw, digest: schema.EnvelopeDigest(raw)}, leaf: leaf}
				}
			}
			switch {
			case prev == nil:
				out = append(out, refDecision{it: it, outcome: seqReplay,
					err: fmt.Errorf("%s seq %d, next expected %d: %w", env.Department, env.Seq, next, schema.ErrReplay)})
			case bytes.Equal(prev.it.raw, it.raw):
				out = append(out, refDecision{it: it, outcome: seqDuplicate, leaf: prev.leaf})
			default:
				out = append(out, refDecision{it: it, outcome: seqEquivocation, leaf: prev.leaf,
					err: fmt.Errorf("%s seq %d is logged at leaf %d with digest %s, got digest %s: %w",
						env.Department, env.Seq, prev.leaf, prev.it.digest, it.digest, schema.ErrEquivocation)})
			}
		default:
			held := r.pending[env.Department]
			if old, ok := held[env.Seq]; ok {
				if !bytes.Equal(old.raw, it.raw) {
					out = append(out, refDecision{it: it, outcome: seqEquivocation,
						err: fmt.Errorf("%s seq %d already held with digest %s, got %s: %w", env.Department, env.Seq, old.digest, it.digest, schema.ErrEquivocation)})
				} else {
					out = append(out, refDecision{it: it, outcome: seqHeldAgain})
				}
				continue
			}
			if len(held) >= r.maxPending {
				out = append(out, refDecision{it: it, outcome: seqDropped, next: next})
				continue
			}
			if held == nil {
				held = map[uint64]*item{}
				r.pending[env.Department] = held
			}
			held[env.Seq] = it
			out = append(out, refDecision{it: it, outcome: seqHeld})
		}
	}
	switch {
	case cut >= 0:
		rest = len(batch) - (cut + 1)
	case cut == -2:
		rest = len(batch)
	}
	return out, rest, marks, nil
}

// TestSequencerMatchesReference runs random batches through the sequencer
// and the reference: the same decisions (with the same receipt texts),
// cuts, marks and held sets, batch after batch.
func TestSequencerMatchesReference(t *testing.T) {
	seen := map[string]int{}
	for seed := uint64(0); seed < 300; seed++ {
		rng := rand.New(rand.NewPCG(seed, 1))
		lg, rlg := newFakeSeqLog(t), newFakeSeqLog(t)
		mp := 1 + rng.IntN(3)
		s := newSequencer(mp, nil)
		ref := &refSequencer{maxPending: mp, marks: map[string]deptMark{}, pending: map[string]map[uint64]*item{}}
		var rest []*item
		var trace []string
		for step := 0; step < 12; step++ {
			batch := slices.Clone(rest)
			for range 1 + rng.IntN(8) {
				batch = append(batch, randomItem(rng))
			}
			failAt := rng.IntN(20) == 0
			if failAt {
				lg.fail, rlg.fail = errLookup, errLookup
			}
			p, err := s.sequence(batch, lg.size, lg)
			want, wantRest, wantMarks, wantErr := ref.sequence(batch, rlg)
			lg.fail, rlg.fail = nil, nil
			trace = append(trace, fmt.Sprintf("batch %s", showItems(batch)))
			if (err == nil) != (wantErr == nil) {
				t.Fatalf("seed %d: err %v, reference %v\n%s", seed, err, wantErr, strings.Join(trace, "\n"))
			}
			if err != nil {
				break // the Ingester stops here too
			}
			var got, exp []string
			for _, d := range p.decisions {
				got = append(got, fmt.Sprintf("%s %d %v", show(d), d.leaf, d.err))
			}
			for _, d := range want {
				exp = append(exp, fmt.Sprintf("%s %d %v", show(seqDecision{it: d.it, outcome: d.outcome, leaf: d.leaf, next: d.next, err: d.err}), d.leaf, d.err))
			}
			if !slices.Equal(got, exp) || len(batch)-p.next != wantRest || !maps.Equal(p.marks, wantMarks) {
				t.Fatalf("seed %d:\n%s\ndecided\n\t%s\nrest %d, marks %v\nreference\n\t%s\nrest %d, marks %v", seed, strings.Join(trace, "\n"),
					strings.Join(got, "\n\t"), len(batch)-p.next, p.marks, strings.Join(exp, "\n\t"), wantRest, wantMarks)
			}
			n := 0
			for d, h := range ref.pending {
				n += len(h)
				if !maps.Equal(h, s.held[d]) {
					t.Fatalf("seed %d: %s held %v, reference %v", seed, d, s.held[d], h)
				}
			}
			if n != s.heldCount() {
				t.Fatalf("seed %d: %d held, reference %d", seed, s.heldCount(), n)
			}
			switch {
			case p.next == 0 && len(batch) > 0:
				seen["cut before the batch"]++
			case p.next < len(batch):
				seen["cut in the batch"]++
			}
			for _, d := range p.decisions {
				seen[d.outcome.String()]++
				if d.outcome == seqEquivocation && strings.Contains(d.err.Error(), "already held") {
					seen["equivocation vs held"]++
				}
				if d.outcome == seqAccepted {
					lg.append(d.it)
					rlg.append(d.it)
				}
			}
			s.commit(p)
			ref.marks = wantMarks
			rest = batch[p.next:]
		}
	}
	// The draw must reach every case, or the comparison proves little.
	for _, c := range []string{"accepted", "duplicate", "equivocation", "equivocation vs held", "replay", "rejected",
		"held", "held-again", "dropped", "cut in the batch", "cut before the batch"} {
		if seen[c] == 0 {
			t.Errorf("no %s in the random batches", c)
		}
	}
	t.Logf("decided: %v", seen)
}

// randomItem draws from a small space, so that seqs collide: two
// departments, seqs 0 to 6, two bodies, some key and schema entries, some
// failing admission or their check.
func randomItem(rng *rand.Rand) *item {
	if rng.IntN(15) == 0 {
		return failed("garbage")
	}
	dept := []string{"civil", "tax"}[rng.IntN(2)]
	seq := uint64(rng.IntN(7))
	if rng.IntN(10) == 0 {
		seq = 0
	} else if seq == 0 {
		seq = 1
	}
	body := []string{"a", "a", "a", "b", "nokey"}[rng.IntN(5)]
	switch rng.IntN(8) {
	case 0:
		return keyMsg(dept, seq, body)
	case 1:
		return schemaMsg(dept, seq, body)
	}
	return msg(dept, seq, body)
}

func showItems(items []*item) string {
	var out []string
	for _, it := range items {
		s := string(it.value)
		if it.env != nil && it.env.Kind != schema.KindRecordChange {
			s += "(" + string(it.env.Kind) + ")"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

// BenchmarkSequence measures Ingester.sequence, the seq rule and the
// durable append, on batches of 1000 messages from the six demo
// departments: all next in line, all duplicates of logged entries, and
// every department's run reversed (held, then drained). The log lives in
// TMPDIR: point it at a tmpfs to see the rule rather than the disk.
func BenchmarkSequence(b *testing.B) {
	const n = 1000
	depts := []string{"civil-affairs", "electricity", "market-regulation", "public-security", "real-estate", "tax"}
	for _, bc := range []struct {
		name string
		// batch returns the next batch, given each department's next seq.
		batch func(bi *benchIngest) []*item
	}{
		{"accepted", func(bi *benchIngest) []*item {
			var out []*item
			for i := 0; i < n; i++ {
				out = append(out, bi.next(depts[i%len(depts)]))
			}
			return out
		}},
		{"gaps", func(bi *benchIngest) []*item {
			var out []*item
			for i, d := range depts {
				k := n / len(depts)
				if i < n%len(depts) {
					k++
				}
				run := make([]*item, k)
				for j := range run {
					run[j] = bi.next(d)
				}
				slices.Reverse(run)
				out = append(out, run...)
			}
			return out
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bi := newBenchIngest(b, depts)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				batch := bc.batch(bi)
				b.StartTimer()
				bi.sequence(b, batch)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/msg")
		})
	}
	b.Run("duplicates", func(b *testing.B) {
		bi := newBenchIngest(b, depts)
		var logged []*item
		for i := 0; i < n; i++ {
			logged = append(logged, bi.next(depts[i%len(depts)]))
		}
		bi.sequence(b, logged)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			batch := make([]*item, n)
			for j, it := range logged {
				c := *it
				c.offset = bi.offset
				bi.offset++
				batch[j] = &c
			}
			b.StartTimer()
			bi.sequence(b, batch)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/msg")
	})
}

type benchIngest struct {
	in     *Ingester
	seqs   map[string]uint64
	pubs   map[string]ed25519.PublicKey
	offset int64
}

// openTestLog opens a fresh log in dir/log under a new key named origin,
// closed when the test ends.
func openTestLog(tb testing.TB, ctx context.Context, dir, origin string) *merkle.Log {
	tb.Helper()
	skey, _, err := merkle.GenerateKey(origin)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := merkle.Open(ctx, filepath.Join(dir, "log"), merkle.Options{SignerKey: skey})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

// newTestIngester is an Ingester over l, with its payloads in dir, that
// reaches no broker: its answers go to a channel of capacity answers.
func newTestIngester(tb testing.TB, ctx context.Context, l *merkle.Log, dir string, answers int) *Ingester {
	tb.Helper()
	g, err := schema.DemoGenesis()
	if err != nil {
		tb.Fatal(err)
	}
	ring, err := schema.NewKeyRing(g)
	if err != nil {
		tb.Fatal(err)
	}
	in, err := New(ctx, Config{Brokers: []string{"127.0.0.1:1"}, PayloadDir: filepath.Join(dir, "payloads")},
		Deps{Log: l, Catalog: schema.Demo(), Keys: ring})
	if err != nil {
		tb.Fatal(err)
	}
	in.answers = make(chan []*item, answers)
	return in
}

func newBenchIngest(b *testing.B, depts []string) *benchIngest {
	ctx := context.Background()
	dir := b.TempDir()
	in := newTestIngester(b, ctx, openTestLog(b, ctx, dir, "bench.example/crossledger"), dir, 4)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-in.answers:
			case <-done:
				return
			}
		}
	}()
	b.Cleanup(func() { close(done) })
	bi := &benchIngest{in: in, seqs: map[string]uint64{}, pubs: map[string]ed25519.PublicKey{}}
	for _, d := range depts {
		bi.pubs[d] = schema.DemoKey(d).Public().(ed25519.PublicKey)
	}
	return bi
}

// next makes dept's next message: an envelope-sized entry, checked.
func (bi *benchIngest) next(dept string) *item {
	bi.seqs[dept]++
	seq := bi.seqs[dept]
	pub := bi.pubs[dept]
	raw := fmt.Appendf(nil, `{"v":1,"kind":"record.change","department":%q,"seq":%d,"key_id":%q,"pad":%q}`,
		dept, seq, schema.KeyID(pub), strings.Repeat("x", 400))
	it := &item{topic: TopicChanges, offset: bi.offset, key: []byte(dept), value: raw, raw: raw, digest: schema.EnvelopeDigest(raw), pub: pub,
		env: &schema.Envelope{V: 1, Kind: schema.KindRecordChange, Department: dept, Seq: seq, KeyID: schema.KeyID(pub)}}
	bi.offset++
	return it
}

func (bi *benchIngest) sequence(b *testing.B, batch []*item) {
	for len(batch) > 0 {
		rest, err := bi.in.sequence(context.Background(), batch)
		if err != nil {
			b.Fatal(err)
		}
		batch = rest
	}
	for _, it := range batch {
		if it.err != nil {
			b.Fatal(it.err)
		}
	}
}

// TestIngesterChecksUnderKeyEntry runs a batch through Ingester.process
// with real signatures: the cut after tax's key rotation makes the rest be
// checked again under the new key, so a change signed with it is accepted
// and one signed with the old key is not. The key leaf is committed with
// the state and replayed by New.
func TestIngesterChecksUnderKeyEntry(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openTestLog(t, ctx, dir, "cut.example/crossledger")
	in := newTestIngester(t, ctx, l, dir, 16)

	oldKey, newKey := schema.DemoKey("tax"), schema.DemoKey("tax-2")
	newPub := newKey.Public().(ed25519.PublicKey)
	rt, err := in.catalog.RecordType("tax", "tax-credit", 0)
	if err != nil {
		t.Fatal(err)
	}
	var offset int64
	message := func(env *schema.Envelope, key ed25519.PrivateKey) *item {
		t.Helper()
		env.V, env.Time = 1, "2024-03-01T00:00:00Z"
		if err := schema.Sign(env, key); err != nil {
			t.Fatal(err)
		}
		m, err := schema.NewMessage(env, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		offset++
		return &item{topic: in.cfg.ChangesTopic, offset: offset, key: []byte(env.Department), value: b}
	}
	change := func(dept string, seq uint64, key ed25519.PrivateKey) *item {
		return message(&schema.Envelope{Kind: schema.KindRecordChange, Department: dept, Seq: seq,
			Change: &schema.RecordChange{Type: rt.Name, SchemaVersion: rt.Version, Op: schema.OpDelete,
				Record: schema.RecordRef(schema.DemoSecret(dept), rt.Name, []string{fmt.Sprint(seq)})}}, key)
	}
	rotate := message(&schema.Envelope{Kind: schema.KindDepartmentKey, Department: "tax", Seq: 2,
		Key: &schema.DepartmentKey{Department: "tax", Action: schema.KeyRotate, KeyID: schema.KeyID(newPub),
			PublicKey: b64.EncodeToString(newPub)}}, oldKey)
	batch := []*item{change("tax", 1, oldKey), rotate, change("tax", 3, newKey), change("tax", 3, oldKey), change("tax", 4, newKey)}
	if err := in.process(ctx, batch); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(in.answers) > 0 {
		for _, it := range <-in.answers {
			s := fmt.Sprintf("%s/%d %s @%d", it.env.Department, it.env.Seq, it.outcome, it.leaf)
			if it.err != nil {
				s = fmt.Sprintf("%s/%d %s", it.env.Department, it.env.Seq, schema.ReasonOf(it.err))
			}
			got = append(got, s)
		}
	}
	want := []string{"tax/1 accepted @0", "tax/2 accepted @1", "tax/3 accepted @2", "tax/3 " + schema.ReasonUnknownKey, "tax/4 accepted @3"}
	if !slices.Equal(got, want) {
		t.Fatalf("receipts %q, want %q", got, want)
	}
	if l.Size() != 4 || !slices.Equal(in.st.KeyLeaves, []uint64{1}) || in.st.Departments["tax"].Seq != 4 || in.st.Offsets[offsetKey(in.cfg.ChangesTopic, 0)] != offset+1 {
		t.Fatalf("log size %d, state %+v", l.Size(), in.st)
	}
	again := newTestIngester(t, ctx, l, dir, 16)
	if _, err := again.keys.ResolveKey("tax", schema.KeyID(newPub), 4); err != nil {
		t.Errorf("after New, the rotated key: %v", err)
	}
	if again.seq.marks["tax"] != in.st.Departments["tax"] {
		t.Errorf("after New, tax at %+v, want %+v", again.seq.marks["tax"], in.st.Departments["tax"])
	}
}
