package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/crossledger/crossledger/merkle"
)

// Bounds on what the audit reads from the log.
const (
	// MaxCheckpointSize bounds /checkpoint: a checkpoint note with its
	// log signature and cosignatures.
	MaxCheckpointSize = 64 << 10
	// maxBundleSize is the largest entry bundle tlog-tiles allows.
	maxBundleSize = merkle.TileWidth * (2 + merkle.MaxEntrySize)
)

// FetchError is a resource the audit could not get: the audit could not
// check, which is not evidence against the log.
type FetchError struct {
	Path string
	Err  error
}

func (e *FetchError) Error() string { return fmt.Sprintf("couldn't fetch %s: %v", e.Path, e.Err) }
func (e *FetchError) Unwrap() error { return e.Err }

// oversizeError is a response longer than its bound: evidence.
type oversizeError struct {
	path  string
	limit int
}

func (e *oversizeError) Error() string {
	return fmt.Sprintf("%s is longer than the %d bytes it may have", e.path, e.limit)
}

// fetcher reads tlog-tiles resources over HTTP, bounded in size, and
// counts what it read.
type fetcher struct {
	base     *url.URL
	client   *http.Client
	requests atomic.Uint64
	bytes    atomic.Uint64
}

func newFetcher(base string, client *http.Client) (*fetcher, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("log URL %q is not an http(s) URL", base)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	if client == nil {
		client = http.DefaultClient
	}
	return &fetcher{base: u, client: client}, nil
}

// get fetches path (relative to the base), reading at most limit bytes.
func (f *fetcher) get(ctx context.Context, path string, limit int) ([]byte, error) {
	u := f.base.ResolveReference(&url.URL{Path: path})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, &FetchError{Path: path, Err: err}
	}
	f.requests.Add(1)
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, &FetchError{Path: path, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, &FetchError{Path: path, Err: fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg)))}
	}
	if resp.ContentLength > int64(limit) {
		return nil, &oversizeError{path: path, limit: limit}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	f.bytes.Add(uint64(len(b)))
	if err != nil {
		return nil, &FetchError{Path: path, Err: err}
	}
	if len(b) > limit {
		return nil, &oversizeError{path: path, limit: limit}
	}
	return b, nil
}

// tile fetches a hash tile and checks its length.
func (f *fetcher) tile(ctx context.Context, t tileRef) ([]byte, error) {
	b, err := f.get(ctx, t.path(), tileBytes)
	if err != nil {
		return nil, err
	}
	if len(b) != t.bytes() {
		return nil, &problemError{Problem{Code: CodeTile, Resource: t.path(), Reason: fmt.Sprintf("%d bytes, want %d", len(b), t.bytes())}}
	}
	return b, nil
}

// bundle fetches entry bundle idx as of a tree of size and splits it,
// checking it holds the entries it should.
func (f *fetcher) bundle(ctx context.Context, idx, size uint64) ([][]byte, error) {
	p := merkle.TilePath{Entries: true, Index: idx, Width: uint8(bundleWidth(idx, size) % merkle.TileWidth)}
	b, err := f.get(ctx, p.String(), maxBundleSize)
	if err != nil {
		return nil, err
	}
	ents, err := merkle.DecodeBundle(b)
	if err != nil {
		return nil, &problemError{Problem{Code: CodeBundle, Index: at(idx * merkle.TileWidth), Resource: p.String(), Reason: err.Error()}}
	}
	if want := bundleWidth(idx, size); len(ents) != want {
		return nil, &problemError{Problem{Code: CodeBundle, Index: at(idx * merkle.TileWidth), Resource: p.String(), Reason: fmt.Sprintf("%d entries, want %d", len(ents), want)}}
	}
	return ents, nil
}

// bundleWidth is the number of entries of bundle idx in a tree of size.
func bundleWidth(idx, size uint64) int {
	if (idx+1)*merkle.TileWidth <= size {
		return merkle.TileWidth
	}
	return int(size - idx*merkle.TileWidth)
}

// problemError carries a problem found while fetching (a malformed
// resource) to where problems are collected.
type problemError struct{ p Problem }

func (e *problemError) Error() string { return e.p.String() }

// asProblem turns an error from the fetcher into a problem, if it is
// evidence (malformed, oversize) rather than a failure to check.
func asProblem(err error) (Problem, bool) {
	var pe *problemError
	if errors.As(err, &pe) {
		return pe.p, true
	}
	var oe *oversizeError
	if errors.As(err, &oe) {
		code := CodeTile
		if strings.HasPrefix(oe.path, "tile/entries/") {
			code = CodeBundle
		} else if oe.path == merkle.CheckpointPath {
			code = CodeCheckpoint
		}
		return Problem{Code: code, Resource: oe.path, Reason: oe.Error()}, true
	}
	return Problem{}, false
}
