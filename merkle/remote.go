package merkle

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// Remote reads a log over its HTTP API ([Log.Handler]) for a process that
// does not hold the log, such as a gateway beside a separate ingest. It
// follows the log's checkpoint by polling, accepting a new checkpoint only
// if its signature verifies and a consistency proof from the previous one
// verifies: a Remote never follows a forked or rewritten log (it keeps the
// last good checkpoint and reports the error). Entries are read from entry
// bundles, proofs from the proof endpoints.
type Remote struct {
	base     *url.URL
	client   *http.Client
	verifier note.Verifier
	logger   *slog.Logger
	bundles  *lru[[][]byte] // decoded full entry bundles (immutable)
	check    func(signed []byte) error

	mu     sync.RWMutex
	signed []byte
	cp     Checkpoint
	err    error // the last refresh error, nil when the last refresh worked

	stop chan struct{}
	done chan struct{}
}

// maxRemoteBody bounds every response a Remote reads (an entry bundle
// holds at most 256 entries of at most 64 KiB).
const maxRemoteBody = 256*(2+MaxEntrySize) + 4096

// RemoteOption configures [OpenRemote].
type RemoteOption func(*Remote)

// WithCheckpointCheck makes a Remote adopt a checkpoint only if check
// accepts it (after its log signature verified): e.g. a witness policy's
// quorum of cosignatures. A refused checkpoint is a refresh error; the
// Remote keeps serving the last one it adopted.
func WithCheckpointCheck(check func(signed []byte) error) RemoteOption {
	return func(r *Remote) { r.check = check }
}

// OpenRemote fetches and verifies the current checkpoint of the log served
// at base (e.g. "http://ingest:8080/") and polls for new ones every poll
// until Close.
func OpenRemote(ctx context.Context, base string, v note.Verifier, client *http.Client, poll time.Duration, logger *slog.Logger, opts ...RemoteOption) (*Remote, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("merkle: log URL %q is not an http(s) URL", base)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if poll <= 0 {
		poll = time.Second
	}
	r := &Remote{base: u, client: client, verifier: v, logger: logger, bundles: newLRU[[][]byte](64),
		stop: make(chan struct{}), done: make(chan struct{})}
	for _, o := range opts {
		o(r)
	}
	if err := r.refresh(ctx); err != nil {
		return nil, err
	}
	go r.loop(poll)
	return r, nil
}

// Close stops polling.
func (r *Remote) Close() error {
	close(r.stop)
	<-r.done
	return nil
}

func (r *Remote) loop(poll time.Duration) {
	defer close(r.done)
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), poll+10*time.Second)
		err := r.refresh(ctx)
		cancel()
		r.mu.Lock()
		changed := (err == nil) != (r.err == nil)
		r.err = err
		r.mu.Unlock()
		if changed && err != nil {
			r.logger.Error("merkle: remote log refresh failed; serving the last verified checkpoint", "err", err)
		} else if changed {
			r.logger.Info("merkle: remote log refresh works again")
		}
	}
}

// refresh fetches the checkpoint and, if it grew, checks consistency with
// the previous one before adopting it.
func (r *Remote) refresh(ctx context.Context) error {
	signed, err := r.get(ctx, CheckpointPath, nil)
	if err != nil {
		return err
	}
	cp, _, err := ParseCheckpoint(signed, r.verifier)
	if err != nil {
		return fmt.Errorf("merkle: remote checkpoint: %w", err)
	}
	if r.check != nil {
		if err := r.check(signed); err != nil {
			return fmt.Errorf("merkle: remote checkpoint of size %d refused: %w", cp.Size, err)
		}
	}
	r.mu.RLock()
	old := r.cp
	have := r.signed != nil
	r.mu.RUnlock()
	if have {
		switch {
		case cp.Size < old.Size:
			return fmt.Errorf("merkle: remote log shrank from %d to %d entries", old.Size, cp.Size)
		case cp.Size == old.Size:
			if !bytes.Equal(cp.Hash, old.Hash) {
				return fmt.Errorf("merkle: remote log forked: two roots for size %d", cp.Size)
			}
			return nil
		case old.Size > 0:
			hs, err := r.ConsistencyProof(ctx, old.Size, cp.Size)
			if err != nil {
				return err
			}
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, old.Size, cp.Size, hs, old.Hash, cp.Hash); err != nil {
				return fmt.Errorf("merkle: remote log is not consistent from %d to %d: %w", old.Size, cp.Size, err)
			}
		}
	}
	r.mu.Lock()
	r.signed, r.cp = signed, cp
	r.mu.Unlock()
	return nil
}

// Checkpoint returns the last verified checkpoint.
func (r *Remote) Checkpoint() []byte {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return bytes.Clone(r.signed)
}

// Verifier returns the log's verifier.
func (r *Remote) Verifier() note.Verifier { return r.verifier }

// Err returns the last refresh error (nil if the last refresh worked).
func (r *Remote) Err() error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.err
}

// Entries returns the n entries from index from on, below the last
// verified checkpoint.
func (r *Remote) Entries(ctx context.Context, from, n uint64) ([][]byte, error) {
	r.mu.RLock()
	size := r.cp.Size
	r.mu.RUnlock()
	if n == 0 || from >= size || n > size-from {
		return nil, fmt.Errorf("%w: entries [%d, %d+%d) of tree size %d", ErrOutOfRange, from, from, n, size)
	}
	out := make([][]byte, 0, n)
	for idx := from / TileWidth; idx <= (from+n-1)/TileWidth; idx++ {
		p := TilePath{Entries: true, Index: idx, Width: uint8(partialWidth(idx, size))}
		ents, ok := r.bundles.get(p)
		if !ok {
			data, err := r.get(ctx, p.String(), nil)
			if err != nil {
				return nil, err
			}
			if ents, err = DecodeBundle(data); err != nil || len(ents) != p.width() {
				return nil, fmt.Errorf("merkle: remote bundle %s is malformed", p)
			}
			if p.Width == 0 {
				r.bundles.put(p, ents)
			}
		}
		lo, hi := uint64(0), uint64(len(ents))
		if idx == from/TileWidth {
			lo = from % TileWidth
		}
		if end := from + n; idx == (end-1)/TileWidth {
			hi = (end-1)%TileWidth + 1
		}
		for _, e := range ents[lo:hi] {
			out = append(out, bytes.Clone(e)) // the cache keeps ents
		}
	}
	return out, nil
}

// partialWidth is the width of entry bundle idx in a tree of size: 0 for
// a full bundle.
func partialWidth(idx, size uint64) uint64 {
	if (idx+1)*TileWidth <= size {
		return 0
	}
	return size - idx*TileWidth
}

// InclusionProof fetches the inclusion proof of index in the tree of size.
func (r *Remote) InclusionProof(ctx context.Context, index, size uint64) ([][]byte, error) {
	return r.hashes(ctx, "proof/inclusion", url.Values{"index": {strconv.FormatUint(index, 10)}, "size": {strconv.FormatUint(size, 10)}})
}

// ConsistencyProof fetches the consistency proof between two sizes.
func (r *Remote) ConsistencyProof(ctx context.Context, size1, size2 uint64) ([][]byte, error) {
	return r.hashes(ctx, "proof/consistency", url.Values{"from": {strconv.FormatUint(size1, 10)}, "to": {strconv.FormatUint(size2, 10)}})
}

func (r *Remote) hashes(ctx context.Context, path string, q url.Values) ([][]byte, error) {
	body, err := r.get(ctx, path, q)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		h, err := base64.StdEncoding.DecodeString(sc.Text())
		if err != nil || len(h) != 32 {
			return nil, fmt.Errorf("merkle: remote %s: malformed hash line", path)
		}
		out = append(out, h)
	}
	if len(out) > 64 {
		return nil, fmt.Errorf("merkle: remote %s: %d hashes is not a proof", path, len(out))
	}
	return out, nil
}

// get fetches base+path, bounded in size.
func (r *Remote) get(ctx context.Context, path string, q url.Values) ([]byte, error) {
	u := r.base.ResolveReference(&url.URL{Path: path, RawQuery: q.Encode()})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("merkle: remote log: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRemoteBody+1))
	if err != nil {
		return nil, fmt.Errorf("merkle: remote log: reading %s: %w", path, err)
	}
	if len(body) > maxRemoteBody {
		return nil, fmt.Errorf("merkle: remote log: %s is larger than %d bytes", path, maxRemoteBody)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("merkle: remote log: GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}
