package witness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/crossledger/crossledger/merkle"
)

// DefaultTimeout bounds one round of cosigning requests.
const DefaultTimeout = 5 * time.Second

// ProofSource is the log side a [Cosigner] needs: consistency proofs
// between committed sizes.
type ProofSource interface {
	ConsistencyProof(ctx context.Context, size1, size2 uint64) ([][]byte, error)
}

// Cosigner collects cosignatures for a log's checkpoints from the
// witnesses of a policy (those with a URL), in parallel, tracking each
// witness's latest cosigned size so that every request carries the
// consistency proof from there.
type Cosigner struct {
	policy  *Policy
	client  *http.Client
	timeout time.Duration
	logger  *slog.Logger
	remotes []*remote
}

// remote is one witness the cosigner talks to.
type remote struct {
	w        Witness
	url      string
	mu       sync.Mutex
	size     uint64 // its latest cosigned size, as last learned (0 at first)
	failures int
	retryAt  time.Time
}

// WitnessError is one witness's failure in a round.
type WitnessError struct {
	Witness string
	Err     error
}

func (e *WitnessError) Error() string { return fmt.Sprintf("witness %s: %v", e.Witness, e.Err) }
func (e *WitnessError) Unwrap() error { return e.Err }

// ErrWitnessAhead: a witness has cosigned a larger tree of this log than
// the one offered — the log was rolled back or forked.
var ErrWitnessAhead = errors.New("witness has cosigned a larger tree than the log's: rollback or fork")

// NewCosigner returns a cosigner for the policy's witnesses that have a
// URL. timeout ≤ 0 means [DefaultTimeout]; client nil means a default one.
func NewCosigner(p *Policy, client *http.Client, timeout time.Duration, logger *slog.Logger) (*Cosigner, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if client == nil {
		client = &http.Client{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Cosigner{policy: p, client: client, timeout: timeout, logger: logger}
	for _, w := range p.Witnesses {
		if w.URL == "" {
			continue
		}
		c.remotes = append(c.remotes, &remote{w: w, url: strings.TrimSuffix(w.URL, "/") + "/add-checkpoint"})
	}
	if len(c.remotes) == 0 && p.Quorum() != "none" {
		return nil, errors.New("witness: policy names no witness URL to ask")
	}
	return c, nil
}

// Policy is the cosigner's policy.
func (c *Cosigner) Policy() *Policy { return c.policy }

// Cosign asks the witnesses to cosign signed, the log's checkpoint of
// size, and returns it with the cosignatures collected and the policy
// names of the witnesses that gave them, once the quorum is met. A
// witness that failed recently is skipped until its back-off ends unless
// the quorum needs it. The error lists every witness's failure when the
// quorum is not met.
func (c *Cosigner) Cosign(ctx context.Context, signed []byte, size uint64, src ProofSource) ([]byte, []string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	type answer struct {
		r    *remote
		line []byte
		err  error
	}
	now := time.Now()
	var ask []*remote
	for _, r := range c.remotes {
		r.mu.Lock()
		if now.After(r.retryAt) {
			ask = append(ask, r)
		}
		r.mu.Unlock()
	}
	if len(ask) < len(c.remotes) && !c.canMeet(ask) {
		ask = c.remotes // the quorum needs those backing off too
	}
	answers := make(chan answer, len(ask))
	proofs := &proofMemo{src: src, byOld: map[uint64]*proofOnce{}}
	for _, r := range ask {
		go func() {
			line, err := c.ask(ctx, r, signed, size, proofs)
			answers <- answer{r, line, err}
		}()
	}
	cosigned := map[string]bool{}
	var lines [][]byte
	var names []string
	var errs []error
	for range ask {
		a := <-answers
		a.r.mu.Lock()
		if a.err != nil {
			a.r.failures++
			a.r.retryAt = time.Now().Add(backoff(a.r.failures))
			errs = append(errs, &WitnessError{a.r.w.Name, a.err})
		} else {
			a.r.failures, a.r.retryAt = 0, time.Time{}
			cosigned[a.r.w.Name] = true
			lines = append(lines, a.line)
			names = append(names, a.r.w.Name)
		}
		a.r.mu.Unlock()
	}
	if !c.policy.Satisfied(cosigned) {
		return nil, names, fmt.Errorf("%w %q: %w", ErrQuorum, c.policy.Quorum(), errors.Join(errs...))
	}
	for _, e := range errs {
		c.logger.Warn("witness did not cosign", "err", e)
	}
	out, err := Merge(signed, lines...)
	return out, names, err
}

// proofMemo builds each consistency proof of a round once: witnesses at
// the same old size (the usual case) share it.
type proofMemo struct {
	src   ProofSource
	mu    sync.Mutex
	byOld map[uint64]*proofOnce
}

type proofOnce struct {
	once   sync.Once
	hashes [][]byte
	err    error
}

func (m *proofMemo) ConsistencyProof(ctx context.Context, old, size uint64) ([][]byte, error) {
	m.mu.Lock()
	p, ok := m.byOld[old]
	if !ok {
		p = &proofOnce{}
		m.byOld[old] = p
	}
	m.mu.Unlock()
	p.once.Do(func() { p.hashes, p.err = m.src.ConsistencyProof(ctx, old, size) })
	return p.hashes, p.err
}

// canMeet reports whether the witnesses in rs could meet the quorum.
func (c *Cosigner) canMeet(rs []*remote) bool {
	m := map[string]bool{}
	for _, r := range rs {
		m[r.w.Name] = true
	}
	return c.policy.Satisfied(m)
}

func backoff(failures int) time.Duration {
	d := 250 * time.Millisecond << min(failures, 7)
	return min(d, 30*time.Second)
}

// ask runs add-checkpoint against one witness, retrying once from the
// size it reports on 409.
func (c *Cosigner) ask(ctx context.Context, r *remote, signed []byte, size uint64, src ProofSource) ([]byte, error) {
	r.mu.Lock()
	old := r.size
	r.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if old > size {
			return nil, fmt.Errorf("%w (witness at %d, log at %d)", ErrWitnessAhead, old, size)
		}
		req := AddCheckpoint{OldSize: old, Checkpoint: signed}
		if old > 0 && old < size {
			p, err := src.ConsistencyProof(ctx, old, size)
			if err != nil {
				return nil, fmt.Errorf("couldn't build a consistency proof from %d to %d: %w", old, size, err)
			}
			req.Proof = p
		}
		code, body, err := c.post(ctx, r.url, req.Encode())
		if err != nil {
			return nil, err
		}
		switch code {
		case http.StatusOK:
			line, err := checkCosignature(signed, body, r.w.Verifier)
			if err != nil {
				return nil, err
			}
			r.mu.Lock()
			r.size = size
			r.mu.Unlock()
			return line, nil
		case http.StatusConflict:
			n, err := ParseSize(body)
			if err != nil {
				return nil, fmt.Errorf("409 with a malformed size: %v", err)
			}
			r.mu.Lock()
			r.size = n
			r.mu.Unlock()
			if attempt > 0 {
				return nil, fmt.Errorf("409 twice (witness at %d)", n)
			}
			old = n
		default:
			return nil, fmt.Errorf("%d: %s", code, strings.TrimSpace(string(body)))
		}
	}
}

func (c *Cosigner) post(ctx context.Context, url string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}

// checkCosignature returns the line of body that is v's valid cosignature
// on signed (other lines are ignored, as the spec says).
func checkCosignature(signed, body []byte, v *Verifier) ([]byte, error) {
	for _, line := range bytes.SplitAfter(body, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		merged, err := Merge(signed, line)
		if err != nil {
			return nil, fmt.Errorf("malformed answer: %v", err)
		}
		n, err := note.Open(merged, note.VerifierList(v))
		if err != nil {
			var invalid *note.InvalidSignatureError
			if errors.As(err, &invalid) {
				return nil, fmt.Errorf("its cosignature does not verify")
			}
			continue
		}
		if len(n.Sigs) == 1 {
			return line, nil
		}
	}
	return nil, errors.New("answer holds no cosignature by its key")
}

// Log is what a [Publisher] drives: a log opened with
// merkle.Options.Witnessed.
type Log interface {
	ProofSource
	Head() []byte
	PublishedSize() uint64
	Checkpoint() []byte
	Publish(ctx context.Context, cosigned []byte) error
}

var _ Log = (*merkle.Log)(nil)

// Publisher keeps a witnessed log's published checkpoint up with its
// committed head: each time the head moves (or a retry is due) it asks
// the cosigner, and publishes what a quorum cosigned. Below quorum it
// publishes nothing and retries with back-off; it never publishes an
// uncosigned checkpoint.
type Publisher struct {
	log    Log
	c      *Cosigner
	logger *slog.Logger
	poke   chan struct{}

	mu     sync.Mutex
	status Status
}

// Status is the publisher's view, for metrics and readiness.
type Status struct {
	Committed, Published uint64
	OK                   bool   // the last round met the quorum (or nothing was due)
	Reason               string // why not, when !OK
	Witnesses            []string
	Rounds, Failures     uint64
}

// NewPublisher returns a publisher of log's checkpoints through c.
func NewPublisher(log Log, c *Cosigner, logger *slog.Logger) *Publisher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Publisher{log: log, c: c, logger: logger, poke: make(chan struct{}, 1), status: Status{OK: true}}
}

// Notify tells the publisher the head moved (after an append).
func (p *Publisher) Notify() {
	select {
	case p.poke <- struct{}{}:
	default:
	}
}

// Status returns the latest status.
func (p *Publisher) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.status
	s.Witnesses = append([]string(nil), s.Witnesses...)
	return s
}

// Run publishes until ctx is done.
func (p *Publisher) Run(ctx context.Context) error {
	retry := time.NewTimer(0)
	defer retry.Stop()
	fails := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.poke:
		case <-retry.C:
		}
		err := p.round(ctx)
		if ctx.Err() != nil {
			return nil
		}
		next := time.Second // a poll, in case a Notify was missed
		if err != nil {
			fails++
			next = backoff(fails - 1)
			p.logger.Warn("checkpoint not published: witnesses' quorum not met; receipts wait, ingest will pause", "err", err, "retry_in", next)
		} else {
			fails = 0
		}
		if !retry.Stop() {
			select {
			case <-retry.C:
			default:
			}
		}
		retry.Reset(next)
	}
}

// round cosigns and publishes the head if it is ahead of the published
// checkpoint.
func (p *Publisher) round(ctx context.Context) error {
	head := p.log.Head()
	c, err := checkpointText(head)
	if err != nil {
		return err
	}
	pubSize := p.log.PublishedSize()
	p.mu.Lock()
	p.status.Committed, p.status.Published = c.Size, pubSize
	due := c.Size > pubSize || p.log.Checkpoint() == nil
	p.mu.Unlock()
	if !due {
		p.setStatus(true, "", nil, false)
		return nil
	}
	cosigned, names, err := p.c.Cosign(ctx, head, c.Size, p.log)
	if err == nil {
		err = p.log.Publish(ctx, cosigned)
	}
	if err != nil {
		p.setStatus(false, err.Error(), names, true)
		return err
	}
	p.mu.Lock()
	p.status.Published = c.Size
	p.mu.Unlock()
	p.setStatus(true, "", names, true)
	return nil
}

func (p *Publisher) setStatus(ok bool, reason string, names []string, round bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status.OK, p.status.Reason = ok, reason
	if round {
		p.status.Rounds++
		p.status.Witnesses = names
		if !ok {
			p.status.Failures++
		}
	}
}

// checkpointText parses a signed checkpoint's body without verifying it
// (it is the log's own).
func checkpointText(signed []byte) (merkle.Checkpoint, error) {
	text, _, ok := bytes.Cut(signed, []byte("\n\n"))
	if !ok {
		return merkle.Checkpoint{}, errors.New("witness: head is not a signed note")
	}
	return merkle.ParseCheckpointText(string(text) + "\n")
}
