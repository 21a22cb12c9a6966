package merkle_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crossledger/crossledger/merkle"
)

// TestWitnessedPublish: with Options.Witnessed, readers see only what
// Publish was given; a restart serves it again; bad publications and a
// published checkpoint ahead of the journal are refused.
func TestWitnessedPublish(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	skey, _ := testKey(t)
	l := openLog(t, dir, merkle.Options{Witnessed: true})
	srv := httptest.NewServer(l.Handler())
	defer srv.Close()
	get := func(path string) int {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if l.Checkpoint() != nil || get("/checkpoint") != http.StatusServiceUnavailable {
		t.Fatal("a checkpoint was published before any Publish")
	}
	appendN(t, l, 300, 100)
	if l.PublishedSize() != 0 || l.Head() == nil {
		t.Fatalf("published size %d after a commit", l.PublishedSize())
	}
	if _, err := l.ProofBundle(ctx, 5); !errors.Is(err, merkle.ErrNotPublished) {
		t.Fatalf("proof of an unpublished entry: %v", err)
	}
	if code := get("/tile/entries/000"); code != http.StatusNotFound {
		t.Fatalf("an unpublished bundle was served: %d", code)
	}
	head300 := l.Head()
	// A witness's cosignature line stands in here (the witness package
	// tests real ones): Publish keeps every line it is given.
	cosigned := func(signed []byte) []byte {
		return append(bytes.Clone(signed), "— witness.example/w1 "+strings.Repeat("A", 96)+"\n"...)
	}
	if err := l.Publish(ctx, cosigned(head300)); err != nil {
		t.Fatal(err)
	}
	if l.PublishedSize() != 300 || !bytes.Contains(l.Checkpoint(), []byte("— witness.example/w1")) || get("/checkpoint") != 200 {
		t.Fatalf("after Publish: size %d", l.PublishedSize())
	}
	if code := get("/tile/entries/000"); code != 200 {
		t.Fatalf("a published bundle: %d", code)
	}
	appendN(t, l, 310, 100)
	if err := l.Publish(ctx, head300); err != nil {
		t.Fatalf("republishing the same size: %v", err)
	}
	if err := l.Publish(ctx, []byte("junk")); err == nil {
		t.Fatal("junk published")
	}
	other := t.TempDir()
	lo := openLog(t, other, merkle.Options{})
	appendN(t, lo, 311, 100)
	if err := l.Publish(ctx, lo.Checkpoint()); err == nil {
		t.Fatal("a checkpoint beyond the committed size was published")
	}
	lo.Close()

	head310 := l.Head()
	if err := l.Publish(ctx, head310); err != nil {
		t.Fatal(err)
	}
	if err := l.Publish(ctx, head300); err == nil {
		t.Fatal("published an older checkpoint after a newer one")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, merkle.Options{Witnessed: true})
	if l.PublishedSize() != 310 || !bytes.Equal(l.Checkpoint(), head310) {
		t.Fatalf("after restart: published %d", l.PublishedSize())
	}
	l.Close()

	// A published checkpoint of a longer tree than the journal's is damage.
	big := t.TempDir()
	lb := openLog(t, big, merkle.Options{})
	appendN(t, lb, 400, 100)
	cp := lb.Checkpoint()
	lb.Close()
	if err := os.WriteFile(filepath.Join(dir, merkle.WitnessedPath), cp, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := merkle.Open(ctx, dir, merkle.Options{SignerKey: skey, Witnessed: true}); err == nil {
		t.Fatal("opened with a published checkpoint ahead of the journal")
	}
}
