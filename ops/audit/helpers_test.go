package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/crossledger/crossledger/ingest/ingesttest"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/schema"
)

// demoOrigin is the demo genesis's log origin.
const demoOrigin = "haidian.example/crossledger"

// detRand is a deterministic byte stream for salts.
type detRand struct {
	seed string
	n    uint64
	buf  []byte
}

func (r *detRand) Read(p []byte) (int, error) {
	for i := range p {
		if len(r.buf) == 0 {
			s := sha256.Sum256(binary.BigEndian.AppendUint64([]byte(r.seed), r.n))
			r.n++
			r.buf = s[:]
		}
		p[i] = r.buf[0]
		r.buf = r.buf[1:]
	}
	return len(p), nil
}

// testLedger builds a log of signed demo entries, as a malicious or an
// honest operator would: straight into merkle, past ingest.
type testLedger struct {
	t    testing.TB
	log  *merkle.Log
	skey string
	v    note.Verifier
	cat  *schema.Catalog
	seq  map[string]uint64
	rnd  *detRand
	n    int
}

// signers are the demo departments that publish record changes.
var signers = []string{"civil-affairs", "electricity", "market-regulation", "public-security", "real-estate", "tax"}

func newTestLedger(t testing.TB, dir string) *testLedger {
	t.Helper()
	skey, vkey, err := merkle.GenerateKey(demoOrigin)
	if err != nil {
		t.Fatal(err)
	}
	return openTestLedger(t, dir, skey, vkey)
}

func openTestLedger(t testing.TB, dir, skey, vkey string) *testLedger {
	t.Helper()
	l, err := merkle.Open(context.Background(), filepath.Join(dir, "log"), merkle.Options{SignerKey: skey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return &testLedger{t: t, log: l, skey: skey, v: v, cat: schema.Demo(), seq: map[string]uint64{}, rnd: &detRand{seed: dir}}
}

func (b *testLedger) sign(env *schema.Envelope, key ed25519.PrivateKey) []byte {
	b.t.Helper()
	env.V = 1
	if env.Seq == 0 {
		b.seq[env.Department]++
		env.Seq = b.seq[env.Department]
	}
	env.Time = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(b.n) * time.Second).Format(time.RFC3339)
	b.n++
	if err := schema.Sign(env, key); err != nil {
		b.t.Fatal(err)
	}
	raw, err := env.Canonical()
	if err != nil {
		b.t.Fatal(err)
	}
	return raw
}

// change is a record change of dept's first record type, signed by dept.
func (b *testLedger) change(dept string) []byte {
	b.t.Helper()
	d, _ := b.cat.Department(dept)
	rt := &d.Types[0]
	vals := ingesttest.Values(rt, b.n)
	var key []string
	for _, k := range rt.Key {
		key = append(key, vals[k])
	}
	ch, _, err := schema.BuildChange(rt, schema.OpUpsert, schema.RecordRef(schema.DemoSecret(dept), rt.Name, key), vals, b.rnd)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.sign(&schema.Envelope{Kind: schema.KindRecordChange, Department: dept, Change: ch}, schema.DemoKey(dept))
}

// grant is a grant by signer of owner's first record type's first field.
func (b *testLedger) grant(signer, owner string) []byte {
	d, _ := b.cat.Department(owner)
	rt := &d.Types[0]
	g := &schema.Grant{Consumer: "real-estate", Purpose: "real-estate-transfer", Type: rt.Name, Fields: []string{rt.Fields[0].Name}}
	return b.sign(&schema.Envelope{Kind: schema.KindGrant, Department: signer, Grant: g}, schema.DemoKey(signer))
}

func (b *testLedger) access() []byte {
	a := &schema.Access{Consumer: "real-estate", User: "clerk-1", Purpose: "real-estate-transfer",
		Disclosed: []schema.AccessItem{{Leaf: 0, Fields: []string{"status"}}}}
	return b.sign(&schema.Envelope{Kind: schema.KindAccess, Department: "gateway", Access: a}, schema.DemoKey("gateway"))
}

// mixed is the i-th entry of an honest workload: mostly record changes,
// a grant and an access entry now and then.
func (b *testLedger) mixed(i int) ([]byte, string, schema.Kind) {
	switch {
	case i%50 == 7:
		return b.grant("civil-affairs", "civil-affairs"), "civil-affairs", schema.KindGrant
	case i%20 == 3:
		return b.access(), "gateway", schema.KindAccess
	}
	d := signers[i%len(signers)]
	return b.change(d), d, schema.KindRecordChange
}

// fill appends n honest entries in batches and returns the counts by
// signer and kind.
func (b *testLedger) fill(n int, counts map[string]map[schema.Kind]uint64) {
	b.t.Helper()
	var batch [][]byte
	base := int(b.log.Size())
	for i := range n {
		raw, d, k := b.mixed(base + i)
		if counts[d] == nil {
			counts[d] = map[schema.Kind]uint64{}
		}
		counts[d][k]++
		batch = append(batch, raw)
		if len(batch) == 97 || i == n-1 {
			b.append(batch...)
			batch = nil
		}
	}
}

// append appends entries in one batch.
func (b *testLedger) append(entries ...[]byte) {
	b.t.Helper()
	if _, err := b.log.Append(context.Background(), entries, []byte("state")); err != nil {
		b.t.Fatal(err)
	}
}

// counting serves h and records every request path and the bytes sent.
type counting struct {
	h     atomic.Pointer[http.Handler]
	mu    sync.Mutex
	paths []string
	bytes atomic.Int64
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.paths = append(c.paths, strings.TrimPrefix(r.URL.Path, "/"))
	c.mu.Unlock()
	(*c.h.Load()).ServeHTTP(&countWriter{ResponseWriter: w, n: &c.bytes}, r)
}

func (c *counting) set(h http.Handler) { c.h.Store(&h) }

// take returns and forgets the paths requested so far.
func (c *counting) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.paths
	c.paths = nil
	return p
}

type countWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w *countWriter) Write(b []byte) (int, error) {
	w.n.Add(int64(len(b)))
	return w.ResponseWriter.Write(b)
}

// serve serves h on 127.0.0.1 behind a counting handler.
func serve(t testing.TB, h http.Handler) (*counting, string) {
	t.Helper()
	c := &counting{}
	c.set(h)
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return c, srv.URL
}

// config is an audit of url with the demo genesis and schemas.
func config(t testing.TB, url string, v note.Verifier, state string) Config {
	t.Helper()
	g, err := schema.DemoGenesis()
	if err != nil {
		t.Fatal(err)
	}
	return Config{URL: url, LogKey: v, Genesis: g, Schemas: schema.DemoCatalog, StateDir: state}
}

func run(t testing.TB, cfg Config) *Report {
	t.Helper()
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("audit couldn't check: %v", err)
	}
	return rep
}

func problems(rep *Report) string {
	var b strings.Builder
	for _, p := range rep.Problems {
		fmt.Fprintf(&b, "\n  %s", p)
	}
	return b.String()
}
