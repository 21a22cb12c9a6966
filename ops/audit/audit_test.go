package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/schema"
)

func countsOf(rep *Report) map[string]map[schema.Kind]uint64 {
	out := map[string]map[schema.Kind]uint64{}
	for d, s := range rep.Departments {
		out[d] = maps.Clone(s.Kinds)
	}
	return out
}

func equalCounts(a, b map[string]map[schema.Kind]uint64) bool {
	return maps.EqualFunc(a, b, func(x, y map[schema.Kind]uint64) bool { return maps.Equal(x, y) })
}

// TestCleanAndIncremental: a clean log of thousands of entries passes with
// the right counts; after more appends a second run reads only the new
// bundles and tiles.
func TestCleanAndIncremental(t *testing.T) {
	dir := t.TempDir()
	lg := newTestLedger(t, dir)
	want := map[string]map[schema.Kind]uint64{}
	lg.fill(3000, want)
	c, url := serve(t, lg.log.Handler())
	cfg := config(t, url, lg.v, t.TempDir())

	rep := run(t, cfg)
	if !rep.OK() {
		t.Fatalf("clean log: %d problems:%s", rep.ProblemCount, problems(rep))
	}
	if rep.Verified == nil || rep.Verified.Size != 3000 || rep.From != 0 || rep.To != 3000 {
		t.Fatalf("verified %+v, checked [%d, %d), want size 3000 from 0", rep.Verified, rep.From, rep.To)
	}
	if got := countsOf(rep); !equalCounts(got, want) {
		t.Errorf("counts %v, want %v", got, want)
	}
	first := c.take()

	old := lg.log.Size()
	lg.fill(1500, want)
	rep = run(t, cfg)
	if !rep.OK() {
		t.Fatalf("second run: %d problems:%s", rep.ProblemCount, problems(rep))
	}
	if rep.From != old || rep.To != lg.log.Size() {
		t.Errorf("second run checked [%d, %d), want [%d, %d)", rep.From, rep.To, old, lg.log.Size())
	}
	if got := countsOf(rep); !equalCounts(got, want) {
		t.Errorf("counts after the second run %v, want %v", got, want)
	}
	second := c.take()
	seen := map[string]bool{}
	for _, p := range second {
		if seen[p] {
			t.Errorf("second run fetched %s twice", p)
		}
		seen[p] = true
		if p == merkle.CheckpointPath {
			continue
		}
		tp, err := merkle.ParseTilePath(p)
		if err != nil {
			t.Fatalf("second run fetched %s: %v", p, err)
		}
		// A resource is new if it reaches past the old size at its level.
		end := (tp.Index + 1) * merkle.TileWidth
		if tp.Width != 0 {
			end = tp.Index*merkle.TileWidth + uint64(tp.Width)
		}
		if !tp.Entries {
			end <<= merkle.TileHeight * tp.Level
		}
		if end <= old {
			t.Errorf("second run fetched %s, which holds only entries before the old size %d", p, old)
		}
	}
	if len(second) >= len(first) {
		t.Errorf("second run made %d requests, the first %d", len(second), len(first))
	}
	t.Logf("first run: %d requests; second: %d (%v)", len(first), len(second), second)

	// Nothing new: one request.
	rep = run(t, cfg)
	if got := c.take(); !rep.OK() || len(got) != 1 {
		t.Errorf("third run: ok %v, requests %v; want ok and only the checkpoint", rep.OK(), got)
	}
}

// TestBadEntries: entries a malicious operator appends past ingest are
// each reported with their index and reason, and the audit goes on.
func TestBadEntries(t *testing.T) {
	lg := newTestLedger(t, t.TempDir())
	lg.fill(300, map[string]map[schema.Kind]uint64{})

	// A forged signature: an envelope claiming tax's key, signed with
	// another.
	forged := func() []byte {
		e, err := schema.DecodeEnvelope(lg.change("tax"))
		if err != nil {
			t.Fatal(err)
		}
		msg, err := e.SigningBytes()
		if err != nil {
			t.Fatal(err)
		}
		e.Sig = base64.RawURLEncoding.EncodeToString(ed25519.Sign(schema.DemoKey("civil-affairs"), msg))
		b, err := e.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		lg.seq["tax"]-- // not tax's: tax's next real entry reuses the seq
		return b
	}
	forgedAt := lg.log.Size()
	lg.append(forged())

	// A seq gap: electricity skips two.
	lg.seq["electricity"] += 2
	gapAt := lg.log.Size()
	lg.append(lg.change("electricity"))

	// A grant of civil-affairs' marriage records, signed by tax.
	wrongAt := lg.log.Size()
	lg.append(lg.grant("tax", "civil-affairs"))

	// An access entry signed by a department, not the gateway.
	a := &schema.Access{Consumer: "tax", User: "u", Purpose: "p"}
	notGwAt := lg.log.Size()
	lg.append(lg.sign(&schema.Envelope{Kind: schema.KindAccess, Department: "tax", Access: a}, schema.DemoKey("tax")))

	// Not canonical: whitespace.
	nonCanonAt := lg.log.Size()
	lg.append(append([]byte(" "), lg.change("real-estate")...))
	lg.seq["real-estate"]--
	lg.fill(100, map[string]map[schema.Kind]uint64{})

	_, url := serve(t, lg.log.Handler())
	rep := run(t, config(t, url, lg.v, t.TempDir()))
	want := map[uint64]string{forgedAt: CodeBadSignature, gapAt: CodeSeqGap, wrongAt: CodeWrongOwner, notGwAt: CodeNotGateway, nonCanonAt: CodeNotCanonical}
	got := map[uint64]string{}
	for _, p := range rep.Problems {
		if p.Index == nil {
			t.Errorf("problem without index: %s", p)
			continue
		}
		got[*p.Index] = p.Code
		t.Logf("%s", p)
	}
	if !maps.Equal(got, want) {
		t.Errorf("problems by index %v, want %v%s", got, want, problems(rep))
	}
	if rep.Verified == nil || rep.Verified.Size != lg.log.Size() {
		t.Errorf("the audit did not get to the end: %+v", rep.Verified)
	}
	// A second run still reports them (they are in the state), finds
	// nothing new.
	rep2 := run(t, config(t, url, lg.v, t.TempDir()))
	if rep2.ProblemCount != uint64(len(want)) {
		t.Errorf("fresh state: %d problems, want %d", rep2.ProblemCount, len(want))
	}
}

// flipper serves h, flipping one bit of the response to one path.
type flipper struct {
	h    http.Handler
	path string
	bit  int // of the body; modulo its length in bits
}

func (f *flipper) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.TrimPrefix(r.URL.Path, "/") != f.path {
		f.h.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	if len(body) > 0 {
		i := f.bit % (8 * len(body))
		body[i/8] ^= 1 << (i % 8)
	}
	maps.Copy(w.Header(), rec.Header())
	w.WriteHeader(rec.Code)
	w.Write(body)
}

// TestBitFlip: one flipped bit in any served tile, entry bundle or
// checkpoint is detected, every time, with the index where there is one.
func TestBitFlip(t *testing.T) {
	lg := newTestLedger(t, t.TempDir())
	lg.fill(700, map[string]map[schema.Kind]uint64{})
	c, url := serve(t, lg.log.Handler())
	if rep := run(t, config(t, url, lg.v, t.TempDir())); !rep.OK() {
		t.Fatalf("clean run:%s", problems(rep))
	}
	paths := c.take()
	rnd := newRand(t)
	byKind := map[string]int{}
	for trial := range 100 {
		f := &flipper{h: lg.log.Handler(), path: paths[rnd.IntN(len(paths))], bit: rnd.IntN(1 << 20)}
		c.set(f)
		rep, err := Run(context.Background(), config(t, url, lg.v, t.TempDir()))
		if err != nil {
			t.Errorf("trial %d, bit %d of %s: could not check: %v", trial, f.bit, f.path, err)
			continue
		}
		if rep.OK() {
			t.Errorf("trial %d, bit %d of %s: not detected", trial, f.bit, f.path)
			continue
		}
		if f.path != merkle.CheckpointPath && !slices.ContainsFunc(rep.Problems, func(p Problem) bool { return p.Index != nil }) {
			t.Errorf("trial %d, bit %d of %s: detected without an index:%s", trial, f.bit, f.path, problems(rep))
		}
		byKind[strings.Split(f.path, "/")[min(1, len(strings.Split(f.path, "/"))-1)]]++
	}
	t.Logf("trials by resource: %v", byKind)
}

// switching serves whichever log is current.
func TestRollbackAndFork(t *testing.T) {
	skey, vkey, err := merkle.GenerateKey(demoOrigin)
	if err != nil {
		t.Fatal(err)
	}
	honest := openTestLedger(t, t.TempDir(), skey, vkey)
	honest.fill(600, map[string]map[schema.Kind]uint64{})
	c, url := serve(t, honest.log.Handler())
	state := t.TempDir()
	cfg := config(t, url, honest.v, state)
	if rep := run(t, cfg); !rep.OK() {
		t.Fatalf("honest log:%s", problems(rep))
	}

	// Other histories under the same key: smaller; the same size with one
	// entry different; larger but not an extension.
	smaller := openTestLedger(t, t.TempDir(), skey, vkey)
	smaller.fill(500, map[string]map[schema.Kind]uint64{})
	same := openTestLedger(t, t.TempDir(), skey, vkey)
	same.fill(599, map[string]map[schema.Kind]uint64{})
	same.append(same.change("tax"))
	larger := openTestLedger(t, t.TempDir(), skey, vkey)
	larger.fill(300, map[string]map[schema.Kind]uint64{})
	larger.append(larger.change("tax"))
	larger.fill(500, map[string]map[schema.Kind]uint64{})

	for _, tc := range []struct {
		name string
		log  *testLedger
		code string
	}{
		{"rollback", smaller, CodeRollback},
		{"fork at the same size", same, CodeFork},
		{"fork, larger", larger, CodeFork},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.set(tc.log.log.Handler())
			rep := run(t, cfg)
			if rep.OK() || len(rep.Problems) == 0 || rep.Problems[len(rep.Problems)-1].Code != tc.code {
				t.Fatalf("want a %s, got:%s", tc.code, problems(rep))
			}
			ev := rep.Evidence
			if ev == nil || ev.Verified == nil || ev.Served == nil || ev.Verified.Size != 600 || ev.Served.Size != tc.log.log.Size() {
				t.Fatalf("evidence %+v, want both checkpoints", ev)
			}
			for _, signed := range []string{ev.Verified.Signed, ev.Served.Signed} {
				if _, _, err := merkle.ParseCheckpoint([]byte(signed), honest.v); err != nil {
					t.Errorf("evidence checkpoint does not verify: %v", err)
				}
			}
			t.Logf("%s", rep.Problems[len(rep.Problems)-1])
		})
	}
	// The state still holds the honest log: back to it, all is well.
	c.set(honest.log.Handler())
	honest.fill(10, map[string]map[schema.Kind]uint64{})
	if rep := run(t, cfg); !rep.OK() || rep.Verified.Size != 610 {
		t.Fatalf("honest log again: verified %+v:%s", rep.Verified, problems(rep))
	}
}

// TestResume: a run interrupted after a save resumes there, fetching no
// bundle before the saved position again.
func TestResume(t *testing.T) {
	lg := newTestLedger(t, t.TempDir())
	lg.fill(5000, map[string]map[schema.Kind]uint64{})
	c, url := serve(t, lg.log.Handler())
	cfg := config(t, url, lg.v, t.TempDir())
	cfg.SaveEvery = 1024
	ctx, cancel := context.WithCancel(context.Background())
	cfg.Progress = func(done, total uint64) {
		if done >= 3000 {
			cancel()
		}
	}
	if _, err := Run(ctx, cfg); err == nil {
		t.Fatal("interrupted run returned no error")
	}
	ld, err := readState(cfg.StateDir, lg.v)
	if err != nil || ld == nil || ld.st.Size < 2048 || ld.st.Size >= 5000 {
		t.Fatalf("state after interruption: %v %+v", err, ld)
	}
	saved := ld.st.Size
	c.take()
	cfg.Progress = nil
	rep := run(t, cfg)
	if !rep.OK() || rep.From != saved || rep.Verified.Size != 5000 {
		t.Fatalf("resumed run: from %d (saved %d), verified %+v:%s", rep.From, saved, rep.Verified, problems(rep))
	}
	for _, p := range c.take() {
		if tp, err := merkle.ParseTilePath(p); err == nil && tp.Entries && (tp.Index+1)*merkle.TileWidth <= saved {
			t.Errorf("resumed run fetched %s again", p)
		}
	}
}

func newRand(t testing.TB) *rand.Rand {
	seed := rand.Uint64()
	t.Logf("random seed %d", seed)
	return rand.New(rand.NewPCG(seed, 1))
}

// TestKeyHistory: a key rotated by governance is the one valid after its
// entry, the old one is not, and a later run (rebuilding the key ring from
// the state) agrees.
func TestKeyHistory(t *testing.T) {
	lg := newTestLedger(t, t.TempDir())
	lg.fill(100, map[string]map[schema.Kind]uint64{})
	newKey := ed25519.NewKeyFromSeed(make([]byte, 32))
	pub := newKey.Public().(ed25519.PublicKey)
	lg.append(lg.sign(&schema.Envelope{Kind: schema.KindDepartmentKey, Department: schema.GovernanceID, Key: &schema.DepartmentKey{
		Department: "tax", Action: schema.KeyRotate, KeyID: schema.KeyID(pub), PublicKey: base64.RawURLEncoding.EncodeToString(pub)}}, schema.DemoKey(schema.GovernanceID)))
	signTax := func(key ed25519.PrivateKey) []byte {
		e, err := schema.DecodeEnvelope(lg.change("tax"))
		if err != nil {
			t.Fatal(err)
		}
		return lg.sign(&schema.Envelope{Kind: schema.KindRecordChange, Department: "tax", Seq: e.Seq, Change: e.Change}, key)
	}
	lg.append(signTax(newKey))
	_, url := serve(t, lg.log.Handler())
	cfg := config(t, url, lg.v, t.TempDir())
	if rep := run(t, cfg); !rep.OK() {
		t.Fatalf("after the rotation:%s", problems(rep))
	}
	oldAt := lg.log.Size()
	stale := signTax(schema.DemoKey("tax"))
	lg.seq["tax"]-- // not tax's any more: its next entry reuses the seq
	lg.append(stale, signTax(newKey))
	rep := run(t, cfg)
	if rep.ProblemCount != 1 || rep.Problems[0].Code != CodeUnknownKey || *rep.Problems[0].Index != oldAt {
		t.Fatalf("the old key after the rotation: want one unknown-key at %d:%s", oldAt, problems(rep))
	}
}
