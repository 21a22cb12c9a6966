package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/tessera/api/layout"
	"golang.org/x/mod/sumdb/note"

	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/merkle/witness"
	"github.com/crossledger/crossledger/schema"
)

// Config configures [Run].
type Config struct {
	// URL is the log's tlog-tiles base URL (what serves /checkpoint).
	// Required.
	URL string
	// LogKey verifies the log's checkpoint signature; its name is the
	// log's origin. Required.
	LogKey note.Verifier
	// Policy, if set, is the witness policy the checkpoint's
	// cosignatures must meet.
	Policy *witness.Policy
	// Genesis fixes the governance key and the departments' first keys.
	// Required.
	Genesis *schema.Genesis
	// Schemas returns a fresh catalog of the departments' record types
	// (the audit adds the versions schema entries log). Required.
	Schemas func() (*schema.Catalog, error)
	// Gateway is the signer of access entries. Default "gateway".
	Gateway string
	// StateDir holds the state between runs. Required.
	StateDir string

	// Client makes the HTTP requests. Default: a client with a 30s
	// timeout per request.
	Client *http.Client
	// Workers is how many goroutines verify entries. Default GOMAXPROCS.
	Workers int
	// Fetchers is how many entry bundles are fetched ahead. Default 8.
	Fetchers int
	// SaveEvery is how many entries are checked between two saves of the
	// state (an interrupted run resumes from the last). Default 65536.
	SaveEvery uint64
	// Progress, if set, is called after each batch with the entries
	// checked so far in this run and the number this run checks.
	Progress func(done, total uint64)
	// OnProblem, if set, is called with each problem as it is found.
	OnProblem func(Problem)
}

func (c *Config) setDefaults() error {
	switch {
	case c.URL == "":
		return errors.New("audit: no log URL")
	case c.LogKey == nil:
		return errors.New("audit: no log key")
	case c.Genesis == nil || c.Schemas == nil:
		return errors.New("audit: no genesis or schemas")
	case c.StateDir == "":
		return errors.New("audit: no state directory")
	}
	if c.Gateway == "" {
		c.Gateway = "gateway"
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.Fetchers <= 0 {
		c.Fetchers = 8
	}
	if c.SaveEvery == 0 {
		c.SaveEvery = 1 << 16
	}
	return nil
}

// CheckpointInfo describes a checkpoint in a report.
type CheckpointInfo struct {
	Origin string `json:"origin"`
	Size   uint64 `json:"size"`
	Root   string `json:"root"` // base64
	Signed string `json:"signed"`
}

func infoOf(c *merkle.Checkpoint, signed []byte) *CheckpointInfo {
	if c == nil {
		return nil
	}
	return &CheckpointInfo{Origin: c.Origin, Size: c.Size, Root: base64.StdEncoding.EncodeToString(c.Hash), Signed: string(signed)}
}

// Evidence is a rollback or fork: two checkpoints signed by the log key
// that cannot both be true of one append-only log.
type Evidence struct {
	Kind     string          `json:"kind"` // CodeRollback or CodeFork
	Verified *CheckpointInfo `json:"verified"`
	Served   *CheckpointInfo `json:"served"`
	Reason   string          `json:"reason"`
}

// Report is the outcome of one [Run].
type Report struct {
	URL string `json:"url"`
	Log string `json:"log"`
	// Served is the checkpoint the log served, if it verified.
	Served *CheckpointInfo `json:"served,omitempty"`
	// Previous and Verified are the last fully verified checkpoint before
	// and after this run.
	Previous *CheckpointInfo `json:"previous,omitempty"`
	Verified *CheckpointInfo `json:"verified,omitempty"`
	// Witnesses are the policy names of the witnesses whose cosignatures
	// verified (with a policy).
	Witnesses []string `json:"witnesses,omitempty"`
	Quorum    string   `json:"quorum,omitempty"`
	// From and To delimit the entries this run checked, [From, To).
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
	// Requests and Bytes count this run's HTTP requests and body bytes.
	Requests uint64 `json:"requests"`
	Bytes    uint64 `json:"bytes"`
	// Departments counts the entries of [0, To) by signer and kind.
	Departments map[string]*Department `json:"departments,omitempty"`
	Undecodable uint64                 `json:"undecodable,omitempty"`
	// Problems are the ones known: found by earlier runs (kept in the
	// state) and by this one; NewProblems of them by this one.
	// ProblemCount counts them all (Problems keeps the first MaxProblems).
	Problems     []Problem `json:"problems"`
	ProblemCount uint64    `json:"problem_count"`
	NewProblems  int       `json:"new_problems"`
	Evidence     *Evidence `json:"evidence,omitempty"`
}

// OK reports whether the audit found nothing wrong.
func (r *Report) OK() bool { return r.ProblemCount == 0 }

// Run audits the log once: the checkpoint, its consistency with the state,
// and every entry the state has not checked. It returns an error only when
// it could not check (network, state directory, configuration): problems
// with the log are in the report ([Report.OK]).
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	f, err := newFetcher(cfg.URL, cfg.Client)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	ld, err := readState(cfg.StateDir, cfg.LogKey)
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: &cfg, f: f, tiles: map[tileRef][]byte{}}
	if err := r.init(ld); err != nil {
		return nil, err
	}
	rep := &Report{URL: cfg.URL, Log: logID(cfg.LogKey), Previous: infoOf(r.verified, r.st.Verified)}
	err = r.run(ctx, rep)
	rep.Requests, rep.Bytes = f.requests.Load(), f.bytes.Load()
	r.fill(rep)
	return rep, err
}

// runner is one run's state.
type runner struct {
	cfg *Config
	f   *fetcher
	st  *State

	verified, latest *merkle.Checkpoint
	latestRange      *compact.Range // nil: the served tiles did not hash to the latest checkpoint
	tree             *edge
	led              *ledger
	pending          []Problem // found past the saved position
	fresh            int       // problems found by this run
	evidence         *Evidence
	served           *CheckpointInfo
	witnesses        []string
	from             uint64

	tmu   sync.Mutex
	tiles map[tileRef][]byte // this run's fetched hash tiles
}

func (r *runner) init(ld *loaded) error {
	if ld == nil {
		ld = &loaded{st: &State{Version: stateVersion, Log: logID(r.cfg.LogKey)}, tree: newEdge(), latestRange: newEdge()}
	}
	r.st, r.verified, r.latest, r.tree = ld.st, ld.verified, ld.latest, ld.tree
	r.latestRange = ld.latestRange.rng
	led, err := newLedger(r.cfg.Genesis, r.cfg.Schemas, r.cfg.Gateway, ld.st.Departments, ld.st.Undecodable, ld.st.Replay)
	if err != nil {
		return fmt.Errorf("audit: couldn't rebuild the ledger state: %w", err)
	}
	r.led = led
	r.from = r.tree.size()
	return nil
}

func (r *runner) fill(rep *Report) {
	rep.Served = r.served
	rep.Verified = infoOf(r.verified, r.st.Verified)
	rep.Witnesses = r.witnesses
	if r.cfg.Policy != nil {
		rep.Quorum = r.cfg.Policy.Quorum()
	}
	rep.From, rep.To = r.from, r.tree.size()
	rep.Departments, rep.Undecodable = r.led.depts, r.led.undecodable
	rep.Problems = append(append([]Problem{}, r.st.Problems...), r.pending...)
	if len(rep.Problems) > MaxProblems {
		rep.Problems = rep.Problems[:MaxProblems]
	}
	rep.ProblemCount = r.st.ProblemCount + uint64(len(r.pending))
	rep.NewProblems = r.fresh
	rep.Evidence = r.evidence
}

// report records a problem found past the saved position.
func (r *runner) report(p Problem) {
	r.pending = append(r.pending, p)
	r.fresh++
	if r.cfg.OnProblem != nil {
		r.cfg.OnProblem(p)
	}
}

// fatal records a problem that stops the run, and returns nil: the run
// did check, and found this.
func (r *runner) fatal(err error) error {
	if p, ok := asProblem(err); ok {
		r.report(p)
		return nil
	}
	var ce *ConsistencyError
	if errors.As(err, &ce) {
		r.report(Problem{Code: CodeFork, Reason: ce.Error() + " (a fork, or a bad tile: the log served tiles that do not prove the new checkpoint extends the verified one)"})
		return nil
	}
	return err
}

func (r *runner) run(ctx context.Context, rep *Report) error {
	signed, err := r.f.get(ctx, merkle.CheckpointPath, MaxCheckpointSize)
	if err != nil {
		return r.fatal(err)
	}
	cp, ok := r.checkCheckpoint(signed)
	if !ok {
		return nil
	}
	r.served = infoOf(&cp, signed)
	if !r.compare(cp, signed) {
		return nil
	}
	if cp.Size > r.latestSize() {
		if err := r.extend(ctx, cp, signed); err != nil {
			return r.fatal(err)
		}
		if r.evidence != nil {
			return nil
		}
		if r.latestRange != nil {
			if err := r.save(); err != nil {
				return err
			}
		}
	}
	if r.verifiedSize() == r.latestSize() {
		return nil
	}
	return r.entries(ctx)
}

func (r *runner) latestSize() uint64 {
	if r.latest == nil {
		return 0
	}
	return r.latest.Size
}

// checkCheckpoint verifies the served checkpoint's signature, and its
// cosignatures against the policy.
func (r *runner) checkCheckpoint(signed []byte) (merkle.Checkpoint, bool) {
	if r.cfg.Policy == nil {
		cp, _, err := merkle.ParseCheckpoint(signed, r.cfg.LogKey)
		if err != nil {
			r.report(Problem{Code: CodeCheckpoint, Resource: merkle.CheckpointPath, Reason: checkpointReason(err)})
			return cp, false
		}
		return cp, true
	}
	v, err := r.cfg.Policy.Check(signed, r.cfg.LogKey)
	if v != nil {
		r.witnesses = v.Witnesses
	}
	switch {
	case errors.Is(err, witness.ErrQuorum):
		r.report(Problem{Code: CodeQuorum, Resource: merkle.CheckpointPath, Reason: err.Error()})
		return merkle.Checkpoint{}, false
	case err != nil:
		r.report(Problem{Code: CodeCheckpoint, Resource: merkle.CheckpointPath, Reason: checkpointReason(err)})
		return merkle.Checkpoint{}, false
	}
	return v.Checkpoint, true
}

// checkpointReason says why a checkpoint failed, with a hint when no
// signature is by the log key (a tampered note, or the wrong --log-key).
func checkpointReason(err error) string {
	var unknown *note.UnknownVerifierError
	if errors.As(err, &unknown) {
		return err.Error() + " (no signature by the log key: a forged checkpoint, or not this log's key)"
	}
	return err.Error()
}

// verdict is how a served checkpoint relates to the largest one verified.
type verdict int

const (
	verdictSame verdict = iota
	verdictGrown
	verdictRollback
	verdictFork
)

// compareCheckpoints decides, from sizes and roots alone, how the served
// checkpoint relates to the latest verified one (nil: none yet).
func compareCheckpoints(latest *merkle.Checkpoint, served merkle.Checkpoint) verdict {
	switch {
	case latest == nil || served.Size > latest.Size:
		return verdictGrown
	case served.Size < latest.Size:
		return verdictRollback
	case !bytes.Equal(served.Hash, latest.Hash):
		return verdictFork
	}
	return verdictSame
}

// compare reports a rollback or a fork at equal size; it returns whether
// to go on.
func (r *runner) compare(cp merkle.Checkpoint, signed []byte) bool {
	switch compareCheckpoints(r.latest, cp) {
	case verdictRollback:
		r.evidence = &Evidence{Kind: CodeRollback, Verified: infoOf(r.latest, r.st.Latest), Served: infoOf(&cp, signed),
			Reason: fmt.Sprintf("the log serves a tree of %d entries after one of %d was verified", cp.Size, r.latest.Size)}
		r.report(Problem{Code: CodeRollback, Resource: merkle.CheckpointPath, Reason: r.evidence.Reason})
		return false
	case verdictFork:
		r.evidence = &Evidence{Kind: CodeFork, Verified: infoOf(r.latest, r.st.Latest), Served: infoOf(&cp, signed),
			Reason: fmt.Sprintf("two different roots for the tree of %d entries", cp.Size)}
		r.report(Problem{Code: CodeFork, Resource: merkle.CheckpointPath, Reason: r.evidence.Reason})
		return false
	}
	return true
}

// extend checks that the served checkpoint extends the latest verified one
// with a consistency proof built from the served tiles, and adopts it as
// the latest.
func (r *runner) extend(ctx context.Context, cp merkle.Checkpoint, signed []byte) error {
	src := r.nodes(ctx, cp.Size)
	if _, err := checkConsistency(r.latestRange, cp.Size, cp.Hash, src); err != nil {
		var ce *ConsistencyError
		if errors.As(err, &ce) {
			r.evidence = &Evidence{Kind: CodeFork, Verified: infoOf(r.latest, r.st.Latest), Served: infoOf(&cp, signed), Reason: ce.Error()}
		}
		return err
	}
	rng, err := extendRange(r.latestRange, cp.Size, src)
	if err != nil {
		return err
	}
	if root := rangeRoot(rng); !bytes.Equal(root, cp.Hash) {
		// Go on: recomputing the tree from the entries finds the tile
		// and the index; the state is saved only once the entries hash
		// to the checkpoint.
		r.report(Problem{Code: CodeTile, Resource: merkle.CheckpointPath, Reason: fmt.Sprintf("the right edge of the served tiles hashes to %s, the checkpoint of size %d says %s",
			base64.StdEncoding.EncodeToString(root), cp.Size, base64.StdEncoding.EncodeToString(cp.Hash))})
		rng = nil
	}
	c := cp
	r.latest, r.latestRange, r.st.Latest = &c, rng, bytes.Clone(signed)
	return nil
}

// nodes reads node hashes of the served tree of size from its tiles.
func (r *runner) nodes(ctx context.Context, size uint64) nodeSource {
	return func(id compact.NodeID) ([]byte, error) {
		t, k, i := nodeTile(id, size)
		data, err := r.tile(ctx, t)
		if err != nil {
			return nil, err
		}
		h, ok := nodeFromTile(data, k, i)
		if !ok {
			return nil, &problemError{Problem{Code: CodeTile, Resource: t.path(), Reason: fmt.Sprintf("too short for node %d at level %d", i, k)}}
		}
		return h, nil
	}
}

// tile returns a hash tile, fetched once per run.
func (r *runner) tile(ctx context.Context, t tileRef) ([]byte, error) {
	return r.fetchTile(ctx, t, true)
}

// fetchTile returns a hash tile from the ones this run fetched, or
// fetches it (and keeps it, if keep).
func (r *runner) fetchTile(ctx context.Context, t tileRef, keep bool) ([]byte, error) {
	r.tmu.Lock()
	data, ok := r.tiles[t]
	r.tmu.Unlock()
	if ok {
		return data, nil
	}
	data, err := r.f.tile(ctx, t)
	if err != nil {
		return nil, err
	}
	if keep {
		r.keepTile(t, data)
	}
	return data, nil
}

func (r *runner) keepTile(t tileRef, data []byte) {
	r.tmu.Lock()
	defer r.tmu.Unlock()
	if len(r.tiles) >= 256 {
		for k := range r.tiles { // the right edge is what is read again; drop level-0 tiles first
			if k.Level == 0 {
				delete(r.tiles, k)
			}
		}
	}
	r.tiles[t] = data
}

// save writes the state at the current position, moving the problems
// found so far into it.
func (r *runner) save() error {
	st := *r.st
	st.LatestRange = r.latestRange.Hashes()
	st.Size, st.Range, st.Edge = r.tree.size(), r.tree.rng.Hashes(), r.tree.tiles
	st.Departments, st.Undecodable, st.Replay = r.led.depts, r.led.undecodable, r.led.replay
	st.Problems = append([]Problem(nil), r.st.Problems...)
	for _, p := range r.pending {
		if len(st.Problems) < MaxProblems {
			st.Problems = append(st.Problems, p)
		}
		st.ProblemCount++
	}
	if err := writeState(r.cfg.StateDir, &st); err != nil {
		return err
	}
	*r.st = st
	r.pending = nil
	return nil
}

func (r *runner) verifiedSize() uint64 {
	if r.verified == nil {
		return 0
	}
	return r.verified.Size
}

// batchEntries is how many entries are verified together: enough to keep
// every core busy between the two ordered steps.
const batchEntries = 2048

// bundleResult is one fetched entry bundle with its level-0 hash tile.
type bundleResult struct {
	idx   uint64
	ents  [][]byte
	tile0 []byte
	err   error
}

func (r *runner) fetchBundle(ctx context.Context, idx, size uint64) bundleResult {
	b := bundleResult{idx: idx}
	if b.ents, b.err = r.f.bundle(ctx, idx, size); b.err != nil {
		return b
	}
	b.tile0, b.err = r.fetchTile(ctx, tileRef{Level: 0, Index: idx, Width: layout.PartialTileSize(0, idx, size)}, false)
	return b
}

// entries checks the entries from the position to the latest checkpoint:
// bundles are fetched ahead in order by a bounded set of goroutines, and
// verified in batches on all cores.
func (r *runner) entries(ctx context.Context) error {
	target := r.latest.Size
	start := r.tree.size()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	futs := make(chan chan bundleResult, r.cfg.Fetchers)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(futs)
		for idx := start / merkle.TileWidth; idx*merkle.TileWidth < target; idx++ {
			fut := make(chan bundleResult, 1)
			select {
			case futs <- fut:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				fut <- r.fetchBundle(ctx, idx, target)
			}()
		}
	}()

	var batch []bundleResult
	n, lastSave := 0, start
	for fut := range futs {
		var b bundleResult
		select {
		case b = <-fut:
		case <-ctx.Done():
			return ctx.Err()
		}
		if b.err != nil {
			if err := r.process(ctx, batch); err != nil {
				return r.fatal(err)
			}
			return r.fatal(b.err)
		}
		batch = append(batch, b)
		n += len(b.ents)
		if last := (b.idx+1)*merkle.TileWidth >= target; n < batchEntries && !last {
			continue
		}
		if err := r.process(ctx, batch); err != nil {
			return r.fatal(err)
		}
		batch, n = batch[:0], 0
		if r.cfg.Progress != nil {
			r.cfg.Progress(r.tree.size()-start, target-start)
		}
		if size := r.tree.size(); size < target && size-lastSave >= r.cfg.SaveEvery && r.latestRange != nil {
			if err := r.saveAuthenticated(ctx, target); err != nil {
				return r.fatal(err)
			}
			lastSave = size
		}
	}
	if r.tree.size() != target {
		return ctx.Err()
	}
	return r.finish(ctx)
}

// saveAuthenticated saves the position after checking it is the prefix
// of the latest checkpoint's tree: the recomputed compact range, extended
// by the served tiles' nodes right of it, must hash to its root. A
// mismatch saves nothing (the end of the run finds out which is wrong).
func (r *runner) saveAuthenticated(ctx context.Context, target uint64) error {
	rng, err := extendRange(r.tree.rng, target, r.nodes(ctx, target))
	if err != nil {
		if _, ok := asProblem(err); ok {
			return nil
		}
		return err
	}
	if !bytes.Equal(rangeRoot(rng), r.latest.Hash) {
		return nil
	}
	return r.save()
}

// process checks a batch of consecutive bundles: entries before the
// position (a bundle that was partial) against the hashes verified before,
// then every new entry in the four steps of the ledger rules, and the
// hash tiles the entries fill against the served ones.
func (r *runner) process(ctx context.Context, batch []bundleResult) error {
	if len(batch) == 0 {
		return nil
	}
	pos := r.tree.size()
	es := make([]*entry, 0, len(batch)*merkle.TileWidth)
	ends := make([]int, len(batch))
	for bi, b := range batch {
		base := b.idx * merkle.TileWidth
		for j, raw := range b.ents {
			i := base + uint64(j)
			if i < pos {
				want := r.tree.tiles[0][j*hashSize : (j+1)*hashSize]
				if !bytes.Equal(merkle.LeafHash(raw), want) {
					r.report(Problem{Code: CodeBundle, Index: at(i), Resource: bundlePath(b.idx, r.latest.Size),
						Reason: "the entry differs from the one verified before (the log rewrote history)"})
				}
				continue
			}
			es = append(es, &entry{index: i, raw: raw})
		}
		ends[bi] = len(es)
	}
	w := r.cfg.Workers
	parallel(len(es), w, func(lo, hi int) {
		for _, e := range es[lo:hi] {
			prepare(e)
		}
	})
	for _, e := range es {
		r.led.resolve(e)
	}
	parallel(len(es), w, func(lo, hi int) { verifyBatch(es[lo:hi]) })
	lo := 0
	for bi, b := range batch {
		for _, e := range es[lo:ends[bi]] {
			for _, p := range r.led.finish(e) {
				r.report(p)
			}
			r.tree.append(e.leaf)
		}
		lo = ends[bi]
		for _, ft := range r.tree.takeFull() {
			t := tileRef{Level: ft.Level, Index: ft.Index}
			served := b.tile0
			if ft.Level != 0 || ft.Index != b.idx {
				var err error
				if served, err = r.tile(ctx, t); err != nil {
					return err
				}
			}
			r.compareTile(t, ft.Data, served)
		}
		if b.idx == r.latest.Size/merkle.TileWidth && len(b.tile0) < tileBytes {
			r.keepTile(tileRef{Level: 0, Index: b.idx, Width: uint8(len(b.tile0) / hashSize)}, b.tile0)
		}
	}
	return nil
}

func bundlePath(idx, size uint64) string {
	return merkle.TilePath{Entries: true, Index: idx, Width: uint8(bundleWidth(idx, size) % merkle.TileWidth)}.String()
}

// compareTile reports a served hash tile that differs from the one
// recomputed from the entries, at the first entry the differing hash
// covers.
func (r *runner) compareTile(t tileRef, want, served []byte) {
	d := firstDiff(want, served)
	if d < 0 {
		return
	}
	first := (t.Index*merkle.TileWidth + uint64(d)) << (merkle.TileHeight * t.Level)
	r.report(Problem{Code: CodeTile, Index: at(first), Resource: t.path(),
		Reason: fmt.Sprintf("hash %d differs from the one recomputed from the entries (the tile or the entries from index %d are wrong)", d, first)})
}

// finish checks the recomputed tree against the latest checkpoint — its
// root and its partial tiles — and makes it the verified one.
func (r *runner) finish(ctx context.Context) error {
	size := r.latest.Size
	if root := r.tree.root(); !bytes.Equal(root, r.latest.Hash) {
		r.report(Problem{Code: CodeRoot, Resource: merkle.CheckpointPath,
			Reason: fmt.Sprintf("the entries hash to root %s, the checkpoint of size %d says %s",
				base64.StdEncoding.EncodeToString(root), size, base64.StdEncoding.EncodeToString(r.latest.Hash))})
		return nil
	}
	for l := range uint64(tileLevels) {
		want := r.tree.tiles[l]
		if len(want) == 0 {
			continue
		}
		t := tileRef{Level: l, Index: size >> (merkle.TileHeight * (l + 1)), Width: uint8(len(want) / hashSize)}
		served, err := r.tile(ctx, t)
		if err != nil {
			return r.fatal(err)
		}
		r.compareTile(t, want, served)
	}
	if r.latestRange == nil {
		r.latestRange = r.tree.rng // the served tiles were wrong; the entries are right
	}
	r.verified, r.st.Verified = r.latest, r.st.Latest
	return r.save()
}

// parallel runs fn over [0, n) split in up to w contiguous parts.
func parallel(n, w int, fn func(lo, hi int)) {
	if n == 0 {
		return
	}
	w = max(1, min(w, n/64+1))
	if w == 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + w - 1) / w
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}
