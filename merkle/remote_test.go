package merkle_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crossledger/crossledger/merkle"
)

// TestRemote reads a log over its own HTTP API and compares everything
// with the log itself, follows it as it grows, and refuses to follow a
// different log served under the same key (a fork).
func TestRemote(t *testing.T) {
	ctx := context.Background()
	skey, v := testKey(t)
	l := openLog(t, t.TempDir(), merkle.Options{SignerKey: skey})
	defer l.Close()
	appendN(t, l, 300, 100)

	var serve atomic.Pointer[http.Handler]
	h := l.Handler()
	serve.Store(&h)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*serve.Load()).ServeHTTP(w, r) }))
	defer srv.Close()

	r, err := merkle.OpenRemote(ctx, srv.URL, v, srv.Client(), 20*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !bytes.Equal(r.Checkpoint(), l.Checkpoint()) {
		t.Fatal("remote checkpoint differs")
	}
	got, err := r.Entries(ctx, 250, 40)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := l.Entries(ctx, 250, 40)
	if !slices.EqualFunc(got, want, bytes.Equal) {
		t.Fatal("remote entries differ")
	}
	if _, err := r.Entries(ctx, 299, 2); err == nil {
		t.Fatal("entries beyond the checkpoint")
	}
	for _, c := range [][2]uint64{{0, 1}, {5, 300}, {299, 300}, {256, 257}} {
		got, err := r.InclusionProof(ctx, c[0], c[1])
		if err != nil {
			t.Fatal(err)
		}
		want, _ := l.InclusionProof(ctx, c[0], c[1])
		if !slices.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("inclusion proof %v differs", c)
		}
	}

	appendN(t, l, 700, 100)
	deadline := time.Now().Add(5 * time.Second)
	for !bytes.Equal(r.Checkpoint(), l.Checkpoint()) {
		if time.Now().After(deadline) {
			t.Fatalf("remote did not follow the log: %v", r.Err())
		}
		time.Sleep(10 * time.Millisecond)
	}

	// A different log with the same key and more entries: the
	// consistency proof from the adopted checkpoint fails.
	other := openLog(t, t.TempDir(), merkle.Options{SignerKey: skey})
	defer other.Close()
	for other.Size() < 800 {
		if _, err := other.Append(ctx, [][]byte{[]byte("forged " + strings.Repeat("x", int(other.Size()%7)))}, nil); err != nil {
			t.Fatal(err)
		}
	}
	before := r.Checkpoint()
	oh := other.Handler()
	serve.Store(&oh)
	deadline = time.Now().Add(5 * time.Second)
	for r.Err() == nil {
		if time.Now().After(deadline) {
			t.Fatal("remote followed a forked log without an error")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !bytes.Equal(r.Checkpoint(), before) {
		t.Fatal("remote adopted the forked checkpoint")
	}
	if !strings.Contains(r.Err().Error(), "not consistent") {
		t.Fatalf("error: %v", r.Err())
	}
}

// TestRemoteCheckpointCheck: a Remote with a check adopts only the
// checkpoints it accepts, and keeps serving the last one otherwise.
func TestRemoteCheckpointCheck(t *testing.T) {
	ctx := context.Background()
	skey, v := testKey(t)
	l := openLog(t, t.TempDir(), merkle.Options{SignerKey: skey})
	defer l.Close()
	appendN(t, l, 10, 10)
	srv := httptest.NewServer(l.Handler())
	defer srv.Close()
	var refuse atomic.Bool
	check := func(signed []byte) error {
		if refuse.Load() {
			return errors.New("not cosigned")
		}
		return nil
	}
	r, err := merkle.OpenRemote(ctx, srv.URL, v, srv.Client(), 10*time.Millisecond, nil, merkle.WithCheckpointCheck(check))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	refuse.Store(true)
	appendN(t, l, 20, 10)
	deadline := time.Now().Add(5 * time.Second)
	for r.Err() == nil {
		if time.Now().After(deadline) {
			t.Fatal("a refused checkpoint raised no error")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !bytes.Contains(r.Checkpoint(), []byte("\n10\n")) || !strings.Contains(r.Err().Error(), "not cosigned") {
		t.Fatalf("after a refused checkpoint: %q, %v", r.Checkpoint(), r.Err())
	}
	refuse.Store(false)
	for !bytes.Contains(r.Checkpoint(), []byte("\n20\n")) {
		if time.Now().After(deadline) {
			t.Fatal("an accepted checkpoint was never adopted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := merkle.OpenRemote(ctx, srv.URL, v, srv.Client(), time.Second, nil, merkle.WithCheckpointCheck(func([]byte) error { return errors.New("no") })); err == nil {
		t.Fatal("OpenRemote adopted a refused first checkpoint")
	}
}
