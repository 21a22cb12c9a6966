package witness_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"

	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/merkle/witness"
)

const origin = "example.com/crossledger/witness-test"

// switchable serves a witness that can be taken down and brought back
// (a new Server on the same state directory: a restart).
type switchable struct {
	h atomic.Pointer[http.Handler]
}

func (s *switchable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := s.h.Load()
	if h == nil {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	(*h).ServeHTTP(w, r)
}

func (s *switchable) set(h http.Handler) {
	if h == nil {
		s.h.Store(nil)
		return
	}
	s.h.Store(&h)
}

type testWitness struct {
	name, skey, vkey, dir string
	sw                    *switchable
	srv                   *httptest.Server
}

func (w *testWitness) start(t testing.TB, logVKey string) *witness.Server {
	t.Helper()
	s, err := witness.NewSigner(w.skey)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := witness.NewServer(s, []witness.LogConfig{{Origin: origin, VKeys: []string{logVKey}}}, w.dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.sw.set(ws)
	return ws
}

func newWitnesses(t testing.TB, n int, logVKey string) []*testWitness {
	var ws []*testWitness
	for i := range n {
		name := fmt.Sprintf("w%d.example/witness", i+1)
		skey, vkey := genKey(t, name)
		w := &testWitness{name: name, skey: skey, vkey: vkey, dir: t.TempDir(), sw: &switchable{}}
		w.srv = httptest.NewServer(w.sw)
		t.Cleanup(w.srv.Close)
		w.start(t, logVKey)
		ws = append(ws, w)
	}
	return ws
}

func policyFor(ws []*testWitness, k int) string {
	var b strings.Builder
	var names []string
	for i, w := range ws {
		fmt.Fprintf(&b, "witness W%d %s %s\n", i+1, w.vkey, w.srv.URL)
		names = append(names, fmt.Sprintf("W%d", i+1))
	}
	fmt.Fprintf(&b, "group departments %d %s\nquorum departments\n", k, strings.Join(names, " "))
	return b.String()
}

func openWitnessedLog(t *testing.T, skey string) *merkle.Log {
	t.Helper()
	l, err := merkle.Open(context.Background(), t.TempDir(), merkle.Options{SignerKey: skey, Witnessed: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func appendN(t *testing.T, l *merkle.Log, n int, tag string) {
	t.Helper()
	es := make([][]byte, n)
	for i := range es {
		es[i] = fmt.Appendf(nil, "%s entry %d of size %d", tag, i, l.Size())
	}
	if _, err := l.Append(context.Background(), es, nil); err != nil {
		t.Fatal(err)
	}
}

func waitPublished(t *testing.T, l *merkle.Log, size uint64, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return l.WaitPublished(ctx, size)
}

// TestQuorum: 2 of 3 department witnesses. One down: checkpoints still
// publish. Two down: nothing new publishes, the publisher says why. One
// back (restarted on its state): everything committed meanwhile publishes.
func TestQuorum(t *testing.T) {
	skey, vkey, err := merkle.GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	l := openWitnessedLog(t, skey)
	if l.Checkpoint() != nil {
		t.Fatal("a witnessed log published a checkpoint before any witness cosigned one")
	}
	ws := newWitnesses(t, 3, vkey)
	p, err := witness.ParsePolicy([]byte(policyFor(ws, 2)))
	if err != nil {
		t.Fatal(err)
	}
	c, err := witness.NewCosigner(p, nil, 2*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub := witness.NewPublisher(l, c, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- pub.Run(ctx) }()
	defer func() { cancel(); <-done }()

	appendN(t, l, 300, "a")
	pub.Notify()
	if err := waitPublished(t, l, 300, 10*time.Second); err != nil {
		t.Fatalf("all witnesses up: %v (status %+v)", err, pub.Status())
	}
	v, err := p.Check(l.Checkpoint(), l.Verifier())
	if err != nil || len(v.Witnesses) < 2 {
		t.Fatalf("published checkpoint: %v, %+v", err, v)
	}

	ws[0].sw.set(nil) // one down
	appendN(t, l, 10, "b")
	pub.Notify()
	if err := waitPublished(t, l, 310, 10*time.Second); err != nil {
		t.Fatalf("one witness down: %v (status %+v)", err, pub.Status())
	}
	v, err = p.Check(l.Checkpoint(), l.Verifier())
	if err != nil || strings.Join(v.Witnesses, ",") != "W2,W3" {
		t.Fatalf("with W1 down: %v, %+v", err, v)
	}

	ws[1].sw.set(nil) // two down
	appendN(t, l, 10, "c")
	pub.Notify()
	if err := waitPublished(t, l, 320, 1500*time.Millisecond); err == nil {
		t.Fatal("published with only 1 of 3 witnesses up")
	}
	if l.PublishedSize() != 310 || !bytes.Contains(l.Checkpoint(), []byte("\n310\n")) {
		t.Fatalf("published size moved to %d below quorum", l.PublishedSize())
	}
	st := pub.Status()
	if st.OK || !strings.Contains(st.Reason, "quorum") || st.Committed != 320 || st.Published != 310 {
		t.Fatalf("status below quorum: %+v", st)
	}
	if _, err := l.ProofBundle(context.Background(), 315); err == nil {
		t.Fatal("a proof for an unpublished entry was handed out")
	}

	ws[1].start(t, vkey) // W2 restarts on its state directory
	if err := waitPublished(t, l, 320, 15*time.Second); err != nil {
		t.Fatalf("after W2 came back: %v (status %+v)", err, pub.Status())
	}
	for deadline := time.Now().Add(2 * time.Second); !pub.Status().OK; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) { // the status follows Publish
			t.Fatalf("status after catching up: %+v", pub.Status())
		}
	}
	ws[0].start(t, vkey) // W1 comes back 20 entries behind: its 409 is handled
	appendN(t, l, 5, "d")
	pub.Notify()
	if err := waitPublished(t, l, 325, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err = p.Check(l.Checkpoint(), l.Verifier())
		if err == nil && len(v.Witnesses) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("W1 never cosigned again: %v %+v", err, v)
		}
		appendN(t, l, 1, "e")
		pub.Notify()
		time.Sleep(300 * time.Millisecond)
	}

	// The cosignatures verify with verifiers nobody here wrote:
	// torchwood's cosignature/v1 and x/mod's note.
	var tws []note.Verifier
	for _, w := range ws {
		tws = append(tws, torchwoodVerifier(t, w))
	}
	logV, _ := note.NewVerifier(vkey)
	n, err := note.Open(l.Checkpoint(), note.VerifierList(append(tws, logV)...))
	if err != nil || len(n.Sigs) != 4 {
		t.Fatalf("x/mod note with torchwood's verifiers: %v (%d sigs)", err, len(n.Sigs))
	}
	for _, s := range n.Sigs[1:] {
		ts, err := torchwood.CosignatureTimestamp(s)
		if err != nil || time.Since(time.Unix(ts, 0)) > time.Minute {
			t.Fatalf("cosignature timestamp %d: %v", ts, err)
		}
	}
}

// torchwoodVerifier is torchwood's cosignature/v1 verifier of w's key,
// checked to encode to the same vkey as ours.
func torchwoodVerifier(t *testing.T, w *testWitness) note.Verifier {
	t.Helper()
	parts := strings.SplitN(w.skey, "+", 5)
	key, err := base64.StdEncoding.DecodeString(parts[len(parts)-1])
	if err != nil {
		t.Fatal(err)
	}
	s, err := torchwood.NewCosignatureSigner(w.name, ed25519.NewKeyFromSeed(key[1:]))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Verifier().String(); got != w.vkey {
		t.Fatalf("torchwood encodes the key as %s, we as %s", got, w.vkey)
	}
	return s.Verifier()
}

func post(t *testing.T, url string, body []byte) (int, string) {
	t.Helper()
	resp, err := http.Post(url+"/add-checkpoint", "text/plain", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestForkAndRollback: a witness restarted on its state refuses an older
// tree, a forked tree of the same size, and a larger tree that does not
// extend the one it cosigned; unknown logs and bad signatures get 404 and
// 403.
func TestForkAndRollback(t *testing.T) {
	skey, vkey, err := merkle.GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	honest := openWitnessedLog(t, skey)
	fork := openWitnessedLog(t, skey) // same key, other entries
	ws := newWitnesses(t, 1, vkey)
	w := ws[0]
	appendN(t, honest, 20, "honest")
	appendN(t, fork, 20, "fork")

	add := func(l *merkle.Log, old uint64) (int, string) {
		req := witness.AddCheckpoint{OldSize: old, Checkpoint: l.Head()}
		if old > 0 && old < l.Size() {
			p, err := l.ConsistencyProof(context.Background(), old, l.Size())
			if err != nil {
				t.Fatal(err)
			}
			req.Proof = p
		}
		return post(t, w.srv.URL, req.Encode())
	}
	if code, body := add(honest, 0); code != 200 || !strings.HasPrefix(body, "— "+w.name+" ") {
		t.Fatalf("first cosign: %d %q", code, body)
	}
	w.start(t, vkey) // restart on the same state
	if code, body := add(fork, 20); code != http.StatusUnprocessableEntity {
		t.Fatalf("same-size fork after restart: %d %q", code, body)
	}
	if code, body := add(honest, 0); code != http.StatusConflict || body != "20\n" {
		t.Fatalf("stale old size: %d %q", code, body)
	}
	appendN(t, fork, 5, "fork")
	if code, body := add(fork, 20); code != http.StatusUnprocessableEntity {
		t.Fatalf("larger fork with a proof from its own tree: %d %q", code, body)
	}
	small := openWitnessedLog(t, skey)
	appendN(t, small, 10, "honest")
	if code, body := add(small, 20); code != http.StatusBadRequest {
		t.Fatalf("rollback to size 10: %d %q", code, body)
	}
	appendN(t, honest, 7, "honest")
	if code, body := add(honest, 20); code != 200 {
		t.Fatalf("honest growth: %d %q", code, body)
	}

	other, _, _ := merkle.GenerateKey("example.com/other-log")
	unknown := openWitnessedLog(t, other)
	if code, _ := add(unknown, 0); code != http.StatusNotFound {
		t.Fatalf("unknown log: %d", code)
	}
	forger, _, _ := merkle.GenerateKey(origin) // same origin, another key
	forged := openWitnessedLog(t, forger)
	if code, _ := add(forged, 0); code != http.StatusForbidden {
		t.Fatalf("checkpoint signed by another key: %d", code)
	}
	if code, _ := post(t, w.srv.URL, []byte("garbage")); code != http.StatusBadRequest {
		t.Fatalf("garbage: %d", code)
	}

	// The cosigner sees the rollback as a witness ahead of the log.
	p, _ := witness.ParsePolicy([]byte(policyFor(ws, 1)))
	c, _ := witness.NewCosigner(p, nil, time.Second, nil)
	if _, _, err := c.Cosign(context.Background(), small.Head(), small.Size(), small); err == nil || !strings.Contains(err.Error(), "larger tree") {
		t.Fatalf("cosigning a rolled-back log: %v", err)
	}

	// Monitors read the latest cosigned checkpoint.
	resp, err := http.Get(w.srv.URL + "/" + witness.OriginHashHex(origin) + "/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte("\n27\n")) || !bytes.Contains(b, []byte("— "+w.name)) {
		t.Fatalf("monitoring checkpoint: %d %q", resp.StatusCode, b)
	}
}
