package witness_test

// Interop with implementations nobody here wrote (issue 13's acceptance):
// torchwood's litewitness cosigns a crossledger log, and crossledger's
// witness cosigns a Tessera POSIX log driven by Tessera's own witness
// client. Each side's cosignatures are checked with the other side's
// verifiers (x/mod's note with torchwood's cosignature/v1, and ours).

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/torchwood"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"

	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/merkle/witness"
	"github.com/crossledger/crossledger/ops/testenv/litewitness"
)

// TestLitewitnessCosignsOurLog: torchwood's litewitness, its key in a
// dedicated ssh-agent, cosigns a witnessed crossledger log through our
// Cosigner and Publisher as it grows across tile boundaries (so it checks
// our consistency proofs); it refuses a fork signed with the same key
// (422), and, killed and restarted on its database, an older checkpoint
// (409 with its size) and the fork again, while the honest log goes on.
func TestLitewitnessCosignsOurLog(t *testing.T) {
	const (
		lwOrigin = "example.com/crossledger/litewitness-interop"
		lwName   = "lw.example/witness"
	)
	skey, logVKey, err := merkle.GenerateKey(lwOrigin)
	if err != nil {
		t.Fatal(err)
	}
	lw := litewitness.StartNamed(t, lwName, lwOrigin, logVKey)
	tv := publicCosignatureVerifier(t, lwName, lw.PublicKey)
	vkey := lw.VKey
	if vkey != tv.String() {
		t.Fatalf("litewitness's verifier key %s, computed from its ssh key %s", vkey, tv.String())
	}
	if v, err := witness.NewVerifier(vkey); err != nil || v.String() != vkey {
		t.Fatalf("our cosignature/v1 verifier on litewitness's key: %v", err)
	}
	url := lw.URL
	p, err := witness.ParsePolicy(fmt.Appendf(nil, "log %s\nwitness LW %s %s\nquorum LW\n", logVKey, vkey, url))
	if err != nil {
		t.Fatal(err)
	}

	l := openInteropLog(t, skey)
	c, err := witness.NewCosigner(p, nil, 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub := witness.NewPublisher(l, c, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- pub.Run(ctx) }()
	defer func() { cancel(); <-done }()

	heads := map[uint64][]byte{} // the log-signed head at each size
	grow := func(size uint64) {
		t.Helper()
		appendUpTo(t, l, size, honestEntry)
		heads[size] = l.Head()
		pub.Notify()
		if err := waitPublished(t, l, size, 30*time.Second); err != nil {
			t.Fatalf("size %d not published: %v (status %+v)", size, err, pub.Status())
		}
		cp := l.Checkpoint()
		v, err := p.Check(cp, l.Verifier())
		if err != nil || strings.Join(v.Witnesses, ",") != "LW" || v.Checkpoint.Size != size {
			t.Fatalf("published checkpoint of size %d under the policy: %v, %+v\n%s", size, err, v, cp)
		}
		n, err := note.Open(cp, note.VerifierList(l.Verifier(), tv))
		if err != nil || len(n.Sigs) != 2 {
			t.Fatalf("x/mod note with torchwood's verifier: %v (%+v)", err, n)
		}
		for _, s := range n.Sigs {
			if s.Name != lwName {
				continue
			}
			ts, err := torchwood.CosignatureTimestamp(s)
			if err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
				t.Fatalf("litewitness's cosignature timestamp %d: %v", ts, err)
			}
		}
		// litewitness's own record of the tree it cosigned.
		st := lw.State()
		if st.Size != size || st.RootHash != base64.StdEncoding.EncodeToString(v.Checkpoint.Hash) {
			t.Fatalf("litewitness's database holds size %d root %s, the log published size %d root %x", st.Size, st.RootHash, size, v.Checkpoint.Hash)
		}
	}
	// Each size after the first is cosigned only if litewitness verified
	// our consistency proof from the one before: within the first tile, across
	// its edge (256), and across a level-1 tile's (65536).
	for _, size := range []uint64{1, 10, 300, 65600, 65607} {
		grow(size)
	}
	top := l.Size()

	// A fork signed with the same key: the same first 300 entries, then others.
	fork := openInteropLog(t, skey)
	appendUpTo(t, fork, 300, honestEntry)
	appendUpTo(t, fork, top, forkEntry)
	sameSize := func() {
		t.Helper()
		code, _, body := postAdd(t, url, witness.AddCheckpoint{OldSize: top, Checkpoint: fork.Head()})
		if code != http.StatusUnprocessableEntity {
			t.Fatalf("fork at the cosigned size %d: %d %q, want 422", top, code, body)
		}
	}
	sameSize()
	appendUpTo(t, fork, top+5, forkEntry)
	forkProof, err := fork.ConsistencyProof(context.Background(), top, top+5)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, body := postAdd(t, url, witness.AddCheckpoint{OldSize: top, Proof: forkProof, Checkpoint: fork.Head()}); code != http.StatusUnprocessableEntity {
		t.Fatalf("larger fork with a proof from its own tree: %d %q, want 422", code, body)
	}
	// Our cosigner, not knowing litewitness's size, learns it from a 409
	// and then gets the 422.
	fc, err := witness.NewCosigner(p, nil, 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := fc.Cosign(context.Background(), fork.Head(), fork.Size(), fork); err == nil || !strings.Contains(err.Error(), "422") {
		t.Fatalf("cosigning the fork through litewitness: %v, want a 422", err)
	}
	if st := lw.State(); st.Size != top {
		t.Fatalf("litewitness moved to size %d on a fork", st.Size)
	}

	// Killed and restarted on its database, it remembers.
	lw.Restart()
	if got := lw.LoggedVKey(); got != vkey {
		t.Fatalf("restarted litewitness's key %s, before %s", got, vkey)
	}
	want := fmt.Sprintf("%d\n", top)
	for _, old := range []uint64{0, 300} {
		code, ctype, body := postAdd(t, url, witness.AddCheckpoint{OldSize: old, Checkpoint: heads[300]})
		if code != http.StatusConflict || ctype != witness.ContentTypeSize || body != want {
			t.Fatalf("older checkpoint (size 300, old %d) after restart: %d %q %q, want 409 %s %q", old, code, ctype, body, witness.ContentTypeSize, want)
		}
	}
	sameSize()
	grow(top + 3) // and the honest log goes on
}

// TestTesseraUsesOurWitness: a Tessera POSIX log, configured with a
// tlog-policy naming our witness and using Tessera's own witness client,
// publishes only checkpoints our witness cosigned; the cosignatures verify
// with x/mod's note and torchwood's verifier and under our policy, and
// every later checkpoint — whose consistency proofs come from Tessera — is
// cosigned again, including by our witness restarted on its state.
func TestTesseraUsesOurWitness(t *testing.T) {
	const (
		tesseraOrigin = "example.com/tessera-interop"
		wName         = "tax.example/witness"
	)
	logSKey, logVKey, err := note.GenerateKey(rand.Reader, tesseraOrigin)
	if err != nil {
		t.Fatal(err)
	}
	logSigner, err := note.NewSigner(logSKey)
	if err != nil {
		t.Fatal(err)
	}
	logVerifier, err := note.NewVerifier(logVKey)
	if err != nil {
		t.Fatal(err)
	}

	wSKey, wVKey, err := witness.GenerateKey(wName)
	if err != nil {
		t.Fatal(err)
	}
	stateDir := t.TempDir()
	newServer := func() *witness.Server {
		t.Helper()
		s, err := witness.NewSigner(wSKey)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := witness.NewServer(s, []witness.LogConfig{{Origin: tesseraOrigin, VKeys: []string{logVKey}}}, stateDir, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	rec := &witnessRecorder{}
	srv := newServer()
	rec.h.Store(srv)
	hs := httptest.NewServer(rec) // on 127.0.0.1
	t.Cleanup(hs.Close)
	tv := seedCosignatureVerifier(t, wName, wSKey, wVKey)

	policy := fmt.Appendf(nil, "log %s\nwitness TAX %s %s\nquorum TAX\n", logVKey, wVKey, hs.URL)
	group, err := tessera.NewWitnessGroupFromPolicy(policy)
	if err != nil {
		t.Fatal(err)
	}
	p, err := witness.ParsePolicy(policy)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	logDir := t.TempDir()
	driver, err := posix.New(ctx, posix.Config{Path: logDir})
	if err != nil {
		t.Fatal(err)
	}
	opts := tessera.NewAppendOptions().
		WithCheckpointSigner(logSigner).
		WithBatching(1024, 50*time.Millisecond).
		WithCheckpointInterval(100*time.Millisecond).
		WithWitnesses(group, &tessera.WitnessOptions{Timeout: 5 * time.Second}) // FailOpen false: nothing uncosigned is published
	appender, shutdown, reader, err := tessera.NewAppender(ctx, driver, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer scancel()
		if err := shutdown(sctx); err != nil {
			t.Logf("tessera shutdown: %v", err)
		}
	}()
	await := tessera.NewPublicationAwaiter(ctx, reader.ReadCheckpoint, 50*time.Millisecond)

	var total uint64
	add := func(n int) {
		t.Helper()
		for added := 0; added < n; {
			chunk := min(n-added, 4000) // under Tessera's pushback threshold (4096)
			futures := make([]tessera.IndexFuture, chunk)
			for i := range futures {
				futures[i] = appender.Add(ctx, tessera.NewEntry(fmt.Appendf(nil, "tessera entry %d", total+uint64(added+i))))
			}
			for _, f := range futures {
				wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
				idx, _, err := await.Await(wctx, f)
				wcancel()
				if err != nil {
					t.Fatalf("entry not published (witness requests so far: %+v): %v", rec.all(), err)
				}
				if idx.IsDup {
					t.Fatalf("entry %d reported as a duplicate", idx.Index)
				}
			}
			added += chunk
		}
		total += uint64(n)
	}
	check := func() {
		t.Helper()
		cp, err := os.ReadFile(filepath.Join(logDir, "checkpoint"))
		if err != nil {
			t.Fatal(err)
		}
		n, err := note.Open(cp, note.VerifierList(logVerifier, tv))
		if err != nil || len(n.Sigs) != 2 {
			t.Fatalf("x/mod note with torchwood's verifier on Tessera's checkpoint: %v (%+v)\n%s", err, n, cp)
		}
		for _, s := range n.Sigs {
			if s.Name != wName {
				continue
			}
			ts, err := torchwood.CosignatureTimestamp(s)
			if err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
				t.Fatalf("our cosignature's timestamp %d: %v", ts, err)
			}
		}
		v, err := p.Check(cp, logVerifier)
		if err != nil || strings.Join(v.Witnesses, ",") != "TAX" {
			t.Fatalf("Tessera's checkpoint under our policy: %v, %+v", err, v)
		}
		if v.Checkpoint.Size != total {
			t.Fatalf("Tessera published size %d, %d entries added", v.Checkpoint.Size, total)
		}
		if got := rec.h.Load().Size(tesseraOrigin); got != total {
			t.Fatalf("our witness is at size %d, Tessera published %d", got, total)
		}
		// Monitors see the same tree at our witness.
		resp, err := http.Get(hs.URL + "/" + witness.OriginHashHex(tesseraOrigin) + "/checkpoint")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.HasPrefix(b, []byte(n.Text)) {
			t.Fatalf("our witness's monitoring checkpoint: %d %q, Tessera published %q", resp.StatusCode, b, n.Text)
		}
	}

	add(1)
	check()
	add(300) // across the first tile's edge
	check()
	rec.h.Store(newServer()) // our witness restarts on its state
	add(3000)
	check()
	add(62300) // across a level-1 tile's edge (65536)
	check()
	add(7)
	check()

	// Tessera's client sent consistency proofs (from its own tiles) that our
	// witness verified, and never needed a second try: not even after the
	// restart (a witness that forgot its state would have answered 409).
	var proved []witnessRequest
	for _, r := range rec.all() {
		if r.code != http.StatusOK {
			t.Errorf("our witness answered Tessera %d: %+v", r.code, r)
		}
		if r.code == http.StatusOK && r.old > 0 && r.proof > 0 {
			proved = append(proved, r)
		}
	}
	if len(proved) < 3 {
		t.Fatalf("only %d cosignatures over a consistency proof: %+v", len(proved), rec.all())
	}
}

// honestEntry and forkEntry are the entries of the honest log and of a fork.
func honestEntry(i uint64) []byte { return fmt.Appendf(nil, "interop entry %d", i) }
func forkEntry(i uint64) []byte   { return fmt.Appendf(nil, "forked entry %d", i) }

// appendUpTo grows l to size in one batch of entry(i).
func appendUpTo(t *testing.T, l *merkle.Log, size uint64, entry func(uint64) []byte) {
	t.Helper()
	var es [][]byte
	for i := l.Size(); i < size; i++ {
		es = append(es, entry(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := l.Append(ctx, es, nil); err != nil {
		t.Fatal(err)
	}
}

func openInteropLog(t *testing.T, skey string) *merkle.Log {
	t.Helper()
	l, err := merkle.Open(context.Background(), t.TempDir(), merkle.Options{SignerKey: skey, Witnessed: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// postAdd posts an add-checkpoint request and returns the answer's status,
// content type and body.
func postAdd(t *testing.T, url string, req witness.AddCheckpoint) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/add-checkpoint", bytes.NewReader(req.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// seedCosignatureVerifier is torchwood's cosignature/v1 verifier of our
// witness key skey, checked to encode to vkey.
func seedCosignatureVerifier(t *testing.T, name, skey, vkey string) note.Verifier {
	t.Helper()
	parts := strings.SplitN(skey, "+", 5)
	key, err := base64.StdEncoding.DecodeString(parts[len(parts)-1])
	if err != nil || len(key) != 1+ed25519.SeedSize || key[0] != 0x04 {
		t.Fatalf("witness key %q: %v", parts[len(parts)-1], err)
	}
	s, err := torchwood.NewCosignatureSigner(name, ed25519.NewKeyFromSeed(key[1:]))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Verifier().String(); got != vkey {
		t.Fatalf("torchwood encodes the key as %s, we as %s", got, vkey)
	}
	return s.Verifier()
}

// publicKeyOnly is a crypto.Signer that cannot sign: torchwood builds a
// cosignature verifier from a signer's public key.
type publicKeyOnly ed25519.PublicKey

func (k publicKeyOnly) Public() crypto.PublicKey { return ed25519.PublicKey(k) }
func (publicKeyOnly) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("public key only")
}

// publicCosignatureVerifier is torchwood's cosignature/v1 verifier of pub.
func publicCosignatureVerifier(t *testing.T, name string, pub ed25519.PublicKey) *torchwood.CosignatureVerifier {
	t.Helper()
	s, err := torchwood.NewCosignatureSigner(name, publicKeyOnly(pub))
	if err != nil {
		t.Fatal(err)
	}
	return s.Verifier()
}

// witnessRecorder serves the current witness and records each add-checkpoint
// request's old size, proof length, checkpoint size and answer.
type witnessRecorder struct {
	h    atomic.Pointer[witness.Server]
	mu   sync.Mutex
	reqs []witnessRequest
}

type witnessRequest struct {
	old, size uint64
	proof     int
	code      int
}

func (r *witnessRecorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, witness.MaxRequestSize+1))
	req.Body = io.NopCloser(bytes.NewReader(body))
	cw := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	r.h.Load().ServeHTTP(cw, req)
	if req.URL.Path != "/add-checkpoint" {
		return
	}
	rec := witnessRequest{code: cw.code}
	if ac, err := witness.ParseAddCheckpoint(body); err == nil {
		rec.old, rec.proof = ac.OldSize, len(ac.Proof)
		if text, _, ok := bytes.Cut(ac.Checkpoint, []byte("\n\n")); ok {
			if c, err := merkle.ParseCheckpointText(string(text) + "\n"); err == nil {
				rec.size = c.Size
			}
		}
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, rec)
	r.mu.Unlock()
}

func (r *witnessRecorder) all() []witnessRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]witnessRequest(nil), r.reqs...)
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (w *statusRecorder) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}
