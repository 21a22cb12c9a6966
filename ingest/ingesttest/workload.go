package ingesttest

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/crossledger/crossledger/adapters"
	"github.com/crossledger/crossledger/adapters/demo"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
)

// DemoChanges returns n changes of the demo simulator (seeded with seed):
// its initial data set, then its stream of updates. The world has n/5
// citizens, so about three quarters of the changes create records and the
// rest update them; creations spread more evenly over the departments than
// the stream (mostly meter readings), and a department's changes are
// published one at a time, so this keeps one department from setting the
// pace of a large run.
func DemoChanges(n int, seed int64) []demo.Change {
	g := demo.New(seed, max(n/5, 50))
	out := make([]demo.Change, 0, n)
	for _, c := range g.Initial() {
		if len(out) == n {
			return out
		}
		out = append(out, c)
	}
	for len(out) < n {
		out = append(out, g.Next())
	}
	return out
}

// Published is what a publishing run handed to the SDK.
type Published struct {
	// Seqs holds, per department, the seqs Publish returned, ascending.
	Seqs map[string][]uint64
	// Changes holds the department's change of each seq in Seqs.
	Changes map[string][]demo.Change
}

// Total is the number of changes published.
func (p *Published) Total() int {
	n := 0
	for _, s := range p.Seqs {
		n += len(s)
	}
	return n
}

// Add appends q's changes after p's, department by department; q must
// have been published after p.
func (p *Published) Add(q *Published) {
	for d, s := range q.Seqs {
		p.Seqs[d] = append(p.Seqs[d], s...)
		p.Changes[d] = append(p.Changes[d], q.Changes[d]...)
	}
}

// PublishWorkers is how many goroutines per department call Publish at
// once: the SDK commits concurrent calls together (group commit).
const PublishWorkers = 8

// Publish publishes changes through clients, [PublishWorkers] concurrent
// callers per department. The seq order of a department's changes (the
// order the log holds them in, and so what "last published" means) is the
// order Publish assigned, which [Published] records; it may differ from
// the order of changes. progress, if not nil, counts published changes.
// [adapters.ErrQueued] counts as published (the outbox re-sends).
func Publish(t testing.TB, ctx context.Context, clients map[string]*adapters.Client, changes []demo.Change, progress *atomic.Int64) *Published {
	t.Helper()
	byDept := map[string][]demo.Change{}
	for _, c := range changes {
		byDept[c.Department] = append(byDept[c.Department], c)
	}
	p := &Published{Seqs: map[string][]uint64{}, Changes: map[string][]demo.Change{}}
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	for d, cs := range byDept {
		c := clients[d]
		if c == nil {
			t.Fatalf("no client for department %s", d)
		}
		seqs := make([]uint64, len(cs))
		var next atomic.Int64
		var dwg sync.WaitGroup
		for range PublishWorkers {
			dwg.Add(1)
			go func() {
				defer dwg.Done()
				for {
					i := int(next.Add(1) - 1)
					if i >= len(cs) || ctx.Err() != nil {
						return
					}
					ch := cs[i]
					seq, err := c.Publish(ctx, ch.Type, ch.Op, ch.Values)
					if err != nil && !errors.Is(err, adapters.ErrQueued) {
						t.Errorf("%s publish %d: %v", d, i, err)
						next.Store(int64(len(cs)))
						return
					}
					seqs[i] = seq
					if progress != nil {
						progress.Add(1)
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			dwg.Wait()
			order := make([]int, len(cs))
			for i := range order {
				order[i] = i
			}
			slices.SortFunc(order, func(a, b int) int { return cmp.Compare(seqs[a], seqs[b]) })
			mu.Lock()
			defer mu.Unlock()
			for _, i := range order {
				p.Seqs[d] = append(p.Seqs[d], seqs[i])
				p.Changes[d] = append(p.Changes[d], cs[i])
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return p
}

// RecordKey names one record: department, record type and its key as
// [store.EncodeKey] encodes it.
type RecordKey struct{ Department, Type, Key string }

// CurrentState is the current values of every record after changes, in
// order: for each record, the canonical values of its last upsert, or no
// entry when its last change is a delete.
func CurrentState(t testing.TB, cat *schema.Catalog, changes map[string][]demo.Change) map[RecordKey]map[string]string {
	t.Helper()
	out := map[RecordKey]map[string]string{}
	for d, cs := range changes {
		for _, c := range cs {
			rt, err := cat.RecordType(d, c.Type, 0)
			if err != nil {
				t.Fatal(err)
			}
			key := make([]string, len(rt.Key))
			for i, k := range rt.Key {
				f, _ := rt.Field(k)
				if key[i], err = f.Canonical(c.Values[k]); err != nil {
					t.Fatal(err)
				}
			}
			rk := RecordKey{d, c.Type, store.EncodeKey(key)}
			if c.Op == schema.OpDelete {
				delete(out, rk)
				continue
			}
			vals, err := rt.CanonicalValues(c.Values)
			if err != nil {
				t.Fatal(err)
			}
			out[rk] = vals
		}
	}
	return out
}

// CheckCurrent compares every current record of st, for every record type
// of every department in want, with want: the same records, with the same
// values. It reports up to 20 differences and returns how many records it
// compared.
func CheckCurrent(t testing.TB, ctx context.Context, st store.Store, cat *schema.Catalog, want map[RecordKey]map[string]string) int {
	t.Helper()
	types := map[[2]string]bool{}
	for k := range want {
		types[[2]string{k.Department, k.Type}] = true
	}
	var (
		errs, seen int
		report     = func(format string, args ...any) {
			t.Helper()
			if errs++; errs <= 20 {
				t.Errorf(format, args...)
			}
		}
	)
	for _, dt := range slices.SortedFunc(maps.Keys(types), func(a, b [2]string) int {
		return compareStrings(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1])
	}) {
		got := map[string]bool{}
		after := ""
		for {
			page, err := st.List(ctx, dt[0], dt[1], store.ListQuery{After: after, Limit: store.MaxPageSize})
			if err != nil {
				t.Fatalf("List %s/%s: %v", dt[0], dt[1], err)
			}
			for _, r := range page.Records {
				k := RecordKey{dt[0], dt[1], store.EncodeKey(r.Key)}
				if got[k.Key] {
					report("%s/%s %v listed twice", dt[0], dt[1], r.Key)
				}
				got[k.Key] = true
				seen++
				w, ok := want[k]
				if !ok {
					report("%s/%s %v projected (leaf %d) but never published or deleted", dt[0], dt[1], r.Key, r.Leaf)
					continue
				}
				have := map[string]string{}
				for _, v := range r.Values {
					have[v.Name] = v.Text
				}
				if !maps.Equal(have, w) {
					report("%s/%s %v (leaf %d, seq %d): projected %v, last published %v", dt[0], dt[1], r.Key, r.Leaf, r.Seq, have, w)
				}
			}
			if page.Next == "" {
				break
			}
			after = page.Next
		}
		for k := range want {
			if k.Department == dt[0] && k.Type == dt[1] && !got[k.Key] {
				report("%s/%s key %q published but not projected as current", k.Department, k.Type, k.Key)
			}
		}
	}
	if errs > 20 {
		t.Errorf("… and %d more differences", errs-20)
	}
	return seen
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// CheckLog checks that l holds exactly the published changes: only
// record.change entries, each published (department, seq) exactly once,
// no seq that was not published, and the seqs of each department dense
// from 1. idx is the log's [SeqIndex], size its size.
func CheckLog(t testing.TB, p *Published, size uint64, idx map[string]map[uint64]uint64) {
	t.Helper()
	if got, want := size, uint64(p.Total()); got != want {
		t.Errorf("log size %d, want %d", got, want)
	}
	for d, seqs := range p.Seqs {
		m := idx[d]
		if len(m) != len(seqs) {
			t.Errorf("%s: %d seqs logged, %d published", d, len(m), len(seqs))
		}
		for i, s := range seqs {
			if s != uint64(i+1) {
				t.Errorf("%s: change %d published with seq %d, want %d", d, i, s, i+1)
				break
			}
			if _, ok := m[s]; !ok {
				t.Errorf("%s seq %d published but not logged", d, s)
			}
		}
	}
	for d := range idx {
		if _, ok := p.Seqs[d]; !ok {
			t.Errorf("%s: %d entries logged, none published", d, len(idx[d]))
		}
	}
}
