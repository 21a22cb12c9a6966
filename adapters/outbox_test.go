package adapters

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
)

// TestOutbox runs every outbox statement against a real SQLite file:
// seqs are reserved densely and survive a reopen, rows are found by seq
// and digest while pending and not after settling, and re-send
// bookkeeping counts attempts.
func TestOutbox(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	o, err := openOutbox(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if empty, err := o.empty(ctx); err != nil || !empty {
		t.Fatalf("empty = %v, %v on a new outbox", empty, err)
	}
	if _, _, ok, err := o.pendingRange(ctx); err != nil || ok {
		t.Fatalf("pendingRange: ok %v, %v on a new outbox", ok, err)
	}
	rows := func(next uint64, n int) []newRow {
		var out []newRow
		for i := range n {
			s := next + uint64(i)
			out = append(out, newRow{seq: s, digest: "d" + string(rune('0'+s)), envelope: []byte{byte(s)}, message: []byte{'m', byte(s)}})
		}
		return out
	}
	var got []uint64
	for _, n := range []int{3, 0, 2} {
		if err := o.append(100, func(next uint64) []newRow { got = append(got, next); return rows(next, n) }); err != nil {
			t.Fatal(err)
		}
	}
	if want := []uint64{1, 4, 4}; !equal(got, want) {
		t.Fatalf("next seqs %v, want %v (an empty append reserves nothing)", got, want)
	}
	o.close()

	if o, err = openOutbox(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer o.close()
	if err := o.append(100, func(next uint64) []newRow {
		if next != 6 {
			t.Errorf("next seq after reopen %d, want 6", next)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if lo, hi, ok, err := o.pendingRange(ctx); err != nil || !ok || lo != 1 || hi != 5 {
		t.Fatalf("pendingRange = %d, %d, %v, %v; want 1, 5", lo, hi, ok, err)
	}
	bySeq, err := o.pendingBySeq(ctx, []any{uint64(2), uint64(5), uint64(9)})
	if err != nil || len(bySeq) != 2 || bySeq[2].digest != "d2" || !bytes.Equal(bySeq[5].envelope, []byte{5}) {
		t.Fatalf("pendingBySeq = %+v, %v", bySeq, err)
	}
	if w, ok, err := o.pendingByDigest(ctx, "d3"); err != nil || !ok || w.seq != 3 {
		t.Fatalf("pendingByDigest = %+v, %v, %v", w, ok, err)
	}

	// Receipt offsets: none, then the first stored wins.
	if _, ok, err := o.receiptOffset(ctx, 2); err != nil || ok {
		t.Fatalf("receiptOffset before any: ok %v, %v", ok, err)
	}
	for _, next := range []int64{10, 20} {
		if err := o.initReceiptOffset(ctx, 2, next); err != nil {
			t.Fatal(err)
		}
	}
	ds := []decision{{verdict: verdictAccepted, seq: 1, leaf: 77}, {verdict: verdictRejected, seq: 2, reason: "replay", detail: "old"}}
	if err := o.settle(ctx, ds, map[int]int64{2: 31}); err != nil {
		t.Fatal(err)
	}
	if next, ok, err := o.receiptOffset(ctx, 2); err != nil || !ok || next != 31 {
		t.Fatalf("receiptOffset = %d, %v, %v; want 31", next, ok, err)
	}
	if st, err := o.status(ctx, 1); err != nil || st.State != StateDone || st.Leaf != 77 || st.Attempts != 1 {
		t.Fatalf("status 1 = %+v, %v", st, err)
	}
	if st, err := o.status(ctx, 2); err != nil || st.State != StateRejected || st.Reason != "replay" || st.Detail != "old" {
		t.Fatalf("status 2 = %+v, %v", st, err)
	}
	if _, err := o.status(ctx, 99); err == nil {
		t.Fatal("status of a seq never stored: no error")
	}
	if n, err := o.pendingCount(ctx); err != nil || n != 3 {
		t.Fatalf("pendingCount = %d, %v; want 3", n, err)
	}
	if w, ok, err := o.pendingByDigest(ctx, "d1"); err != nil || ok {
		t.Fatalf("pendingByDigest of a settled row = %+v, %v, %v", w, ok, err)
	}

	// Re-send bookkeeping.
	page, err := o.pendingBetween(ctx, 1, 4, 10)
	if err != nil || len(page) != 2 || page[0].seq != 3 || page[1].seq != 4 || !bytes.Equal(page[0].message, []byte{'m', 3}) {
		t.Fatalf("pendingBetween = %+v, %v; want seqs 3, 4", page, err)
	}
	if err := o.sentBetween(ctx, 3, 4, 500); err != nil {
		t.Fatal(err)
	}
	due, err := o.dueBefore(ctx, 100, 0, false, 10)
	if err != nil || len(due) != 1 || due[0].seq != 5 {
		t.Fatalf("dueBefore(100) = %+v, %v; want seq 5 (3 and 4 rescheduled)", due, err)
	}
	due, err = o.dueBefore(ctx, 500, 5, true, 10)
	if err != nil || len(due) != 2 || due[0].seq != 3 || due[0].attempts != 2 {
		t.Fatalf("dueBefore(500, below 5) = %+v, %v; want seqs 3, 4 at attempt 2", due, err)
	}
	if err := o.resent(ctx, due, func(r sendRow) int64 { return 1000 + int64(r.seq) }); err != nil {
		t.Fatal(err)
	}
	if st, _ := o.status(ctx, 4); st.Attempts != 3 {
		t.Fatalf("attempts of seq 4 = %d, want 3", st.Attempts)
	}
	if due, err := o.dueBefore(ctx, 1003, 0, false, 10); err != nil || len(due) != 2 || due[0].seq != 3 || due[1].seq != 5 {
		t.Fatalf("dueBefore(1003) = %+v, %v; want seqs 3, 5", due, err)
	}
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
