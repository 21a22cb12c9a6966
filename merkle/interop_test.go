package merkle_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/crossledger/crossledger/merkle"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"
)

// TestInteropTessera serves the log over real HTTP and checks it with
// Tessera's client, an independent implementation of tlog-tiles: the
// checkpoint signature, entry bundles, and inclusion and consistency proofs
// (both built by Tessera from our tiles and served by our /proof endpoints)
// at the sizes where tile boundaries bite.
func TestInteropTessera(t *testing.T) {
	ctx := context.Background()
	rng := newRand(t)
	skey, v := testKey(t)
	l := openLog(t, t.TempDir(), merkle.Options{SignerKey: skey})
	defer l.Close()
	srv := httptest.NewServer(l.Handler())
	defer srv.Close()
	u, _ := url.Parse(srv.URL + "/")
	f, err := client.NewHTTPFetcher(u, srv.Client())
	if err != nil {
		t.Fatal(err)
	}

	sizes := []uint64{1, 255, 256, 257, 65536 + 17, 70001 + rng.Uint64N(5000)}
	for _, size := range sizes {
		appendN(t, l, size, 4096)
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			cp, raw, _, err := client.FetchCheckpoint(ctx, f.ReadCheckpoint, v, testOrigin)
			if err != nil {
				t.Fatalf("tessera FetchCheckpoint: %v", err)
			}
			if cp.Size != size {
				t.Fatalf("checkpoint size %d, want %d", cp.Size, size)
			}
			if _, err := note.Open(raw, note.VerifierList(v)); err != nil {
				t.Fatalf("x/mod note.Open: %v", err)
			}
			pb, err := client.NewProofBuilder(ctx, size, f.ReadTile)
			if err != nil {
				t.Fatal(err)
			}
			for range 25 {
				idx := rng.Uint64N(size)
				bundle, err := client.GetEntryBundle(ctx, f.ReadEntryBundle, idx/256, size)
				if err != nil {
					t.Fatalf("GetEntryBundle(%d): %v", idx/256, err)
				}
				e := bundle.Entries[idx%256]
				if !bytes.Equal(e, entry(idx)) {
					t.Fatalf("bundle entry %d = %q", idx, e)
				}
				ip, err := pb.InclusionProof(ctx, idx)
				if err != nil {
					t.Fatalf("tessera InclusionProof(%d): %v", idx, err)
				}
				if err := proof.VerifyInclusion(rfc6962.DefaultHasher, idx, size, merkle.LeafHash(e), ip, cp.Hash); err != nil {
					t.Fatalf("inclusion %d/%d: %v", idx, size, err)
				}
				served := getProof(t, srv, fmt.Sprintf("/proof/inclusion?index=%d&size=%d", idx, size))
				if !equalHashes(served, ip) {
					t.Fatalf("served inclusion proof %d/%d differs from Tessera's", idx, size)
				}

				s1 := rng.Uint64N(size + 1)
				s2 := s1 + rng.Uint64N(size-s1+1)
				cp2, err := client.NewProofBuilder(ctx, size, f.ReadTile)
				if err != nil {
					t.Fatal(err)
				}
				cproof, err := cp2.ConsistencyProof(ctx, s1, s2)
				if err != nil {
					t.Fatalf("tessera ConsistencyProof(%d, %d): %v", s1, s2, err)
				}
				r1, _ := l.RootAt(ctx, s1)
				r2, _ := l.RootAt(ctx, s2)
				if s1 > 0 {
					if err := proof.VerifyConsistency(rfc6962.DefaultHasher, s1, s2, cproof, r1, r2); err != nil {
						t.Fatalf("consistency %d→%d: %v", s1, s2, err)
					}
				}
				served = getProof(t, srv, fmt.Sprintf("/proof/consistency?from=%d&to=%d", s1, s2))
				if !equalHashes(served, cproof) {
					t.Fatalf("served consistency proof %d→%d differs from Tessera's", s1, s2)
				}
				// Roots at every size, via Tessera's own tile walk.
				if s2 > 0 {
					nodes, err := client.FetchRangeNodes(ctx, s2, f.ReadTile)
					if err != nil {
						t.Fatal(err)
					}
					if root := foldRange(nodes); !bytes.Equal(root, r2) {
						t.Fatalf("root at %d: tessera %x, ours %x", s2, root, r2)
					}
				}
			}
			if !bytes.Equal(cp.Hash, l.Root()) {
				t.Fatal("checkpoint root differs from Root()")
			}
		})
	}
}

func foldRange(hashes [][]byte) []byte {
	h := hashes[len(hashes)-1]
	for i := len(hashes) - 2; i >= 0; i-- {
		h = rfc6962.DefaultHasher.HashChildren(hashes[i], h)
	}
	return h
}

func getProof(t *testing.T, srv *httptest.Server, path string) [][]byte {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s %s", path, resp.Status, body)
	}
	var out [][]byte
	for _, line := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
		if line == "" {
			continue
		}
		h, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			t.Fatalf("GET %s: bad line %q", path, line)
		}
		out = append(out, h)
	}
	return out
}

func TestHandler(t *testing.T) {
	l := openLog(t, t.TempDir(), merkle.Options{JournalLimit: 1})
	defer l.Close()
	appendN(t, l, 300, 7)
	srv := httptest.NewServer(l.Handler())
	defer srv.Close()
	for _, tc := range []struct {
		method, path string
		code         int
		ctype, cache string
		body         string
	}{
		{"GET", "/checkpoint", 200, "text/plain; charset=utf-8", "no-cache", testOrigin + "\n300\n"},
		{"HEAD", "/checkpoint", 200, "text/plain; charset=utf-8", "no-cache", ""},
		{"GET", "/tile/0/000", 200, "application/octet-stream", "public, max-age=31536000, immutable", ""},
		{"GET", "/tile/0/001.p/44", 200, "application/octet-stream", "public, max-age=31536000, immutable", ""},
		{"GET", "/tile/0/000.p/7", 200, "application/octet-stream", "", ""}, // removed partial, served from the full tile
		{"GET", "/tile/entries/000.p/14", 200, "application/octet-stream", "", ""},
		{"GET", "/tile/1/000.p/1", 200, "application/octet-stream", "", ""},
		{"GET", "/tile/0/001.p/45", 404, "", "no-store", "not part of the tree"},
		{"GET", "/tile/0/001", 404, "", "", "not part of the tree"},
		{"GET", "/tile/0/x000/001", 404, "", "", "not canonical"},
		{"GET", "/tile/0/000.p/0", 404, "", "", ""},
		{"GET", "/journal", 404, "", "", "not found"},
		{"GET", "/lock", 404, "", "", "not found"},
		{"GET", "/tile/../journal", 404, "", "", ""},
		{"GET", "/checkpoint.tmp", 404, "", "", ""},
		{"POST", "/checkpoint", 405, "", "", "only GET"},
		{"GET", "/proof/inclusion?index=5&size=300", 200, "text/plain; charset=utf-8", "", ""},
		{"GET", "/proof/inclusion?index=5", 400, "", "", `missing parameter "size"`},
		{"GET", "/proof/inclusion?index=05&size=300", 400, "", "", "canonical decimal"},
		{"GET", "/proof/inclusion?index=-1&size=300", 400, "", "", "canonical decimal"},
		{"GET", "/proof/inclusion?index=300&size=300", 400, "", "", "must be below size"},
		{"GET", "/proof/inclusion?index=1&size=301", 404, "", "", "beyond the checkpoint"},
		{"GET", "/proof/inclusion?index=1&index=2&size=3", 400, "", "", "given 2 times"},
		{"GET", "/proof/inclusion?index=99999999999999999999&size=3", 400, "", "", "canonical decimal"},
		{"GET", "/proof/consistency?from=10&to=300", 200, "text/plain; charset=utf-8", "", ""},
		{"GET", "/proof/consistency?from=11&to=10", 400, "", "", "must not exceed"},
		{"GET", "/proof/consistency?from=1&to=1000", 404, "", "", "beyond the checkpoint"},
		{"GET", "/proof/bundle?index=299", 200, "text/plain; charset=utf-8", "no-cache", merkle.ProofHeader + "\nindex 299\n"},
		{"GET", "/proof/bundle?index=300", 404, "", "", "out of range"},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("%s %s: %d %q, want %d", tc.method, tc.path, resp.StatusCode, body, tc.code)
			continue
		}
		if tc.ctype != "" && resp.Header.Get("Content-Type") != tc.ctype {
			t.Errorf("%s %s: Content-Type %q", tc.method, tc.path, resp.Header.Get("Content-Type"))
		}
		if tc.cache != "" && resp.Header.Get("Cache-Control") != tc.cache {
			t.Errorf("%s %s: Cache-Control %q", tc.method, tc.path, resp.Header.Get("Cache-Control"))
		}
		if !strings.Contains(string(body), tc.body) {
			t.Errorf("%s %s: body %q lacks %q", tc.method, tc.path, body, tc.body)
		}
	}
}
