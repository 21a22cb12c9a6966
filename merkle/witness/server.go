package witness

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/crossledger/crossledger/internal/atomicfile"
	"github.com/crossledger/crossledger/merkle"
)

// LogConfig is one log a witness cosigns: its origin and the verifier keys
// (signed-note vkeys named by the origin) its checkpoints may be signed with.
type LogConfig struct {
	Origin string
	VKeys  []string
}

// Server is a C2SP tlog-witness v1.0.0 witness: POST /add-checkpoint, and
// GET /<hex SHA-256 of origin>/checkpoint for monitors. Its state — per
// log, the latest checkpoint it cosigned — lives in a directory, one file
// per log, each replaced atomically and durably before the cosignature is
// returned, so a restart never cosigns a tree inconsistent with one it
// cosigned before.
type Server struct {
	signer *Signer
	dir    string
	logger *slog.Logger
	logs   map[string]note.Verifiers // by origin
	reqs   *prometheus.CounterVec
	sizes  *prometheus.GaugeVec

	mu    sync.Mutex // serialises check-and-persist, per the spec's race
	state map[string]logState
}

// logState is what the witness remembers of one log.
type logState struct {
	size       uint64
	root       []byte
	checkpoint []byte // the cosigned checkpoint, log signature and ours
}

// NewServer opens a witness whose state lives in dir (created if
// missing). reg may be nil.
func NewServer(signer *Signer, logs []LogConfig, dir string, reg prometheus.Registerer, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if signer == nil {
		return nil, errors.New("witness: no signer")
	}
	known, err := LogVerifiers(logs)
	if err != nil {
		return nil, err
	}
	s := &Server{signer: signer, dir: dir, logger: logger, logs: known, state: map[string]logState{}}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("witness: couldn't create state directory: %w", err)
	}
	for origin, vs := range s.logs {
		st, err := s.load(origin, vs)
		if err != nil {
			return nil, err
		}
		s.state[origin] = st
	}
	s.reqs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crossledger_witness_requests_total",
		Help: "add-checkpoint requests, by log origin and HTTP status.",
	}, []string{"origin", "code"})
	s.sizes = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "crossledger_witness_cosigned_size",
		Help: "Tree size of the latest checkpoint cosigned, by log origin.",
	}, []string{"origin"})
	if reg != nil {
		for _, c := range []prometheus.Collector{s.reqs, s.sizes} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	for origin, st := range s.state {
		s.sizes.WithLabelValues(origin).Set(float64(st.size))
	}
	return s, nil
}

// LogVerifiers checks a witness's log list — distinct origins, each with
// at least one signed-note verifier key named by it — and returns the
// verifiers by origin.
func LogVerifiers(logs []LogConfig) (map[string]note.Verifiers, error) {
	out := map[string]note.Verifiers{}
	for _, l := range logs {
		if _, dup := out[l.Origin]; dup {
			return nil, fmt.Errorf("witness: log %q configured twice", l.Origin)
		}
		if len(l.VKeys) == 0 {
			return nil, fmt.Errorf("witness: log %q has no keys", l.Origin)
		}
		var vs []note.Verifier
		for _, k := range l.VKeys {
			v, err := note.NewVerifier(k)
			if err != nil {
				return nil, fmt.Errorf("witness: log %q: key %q: %w", l.Origin, k, err)
			}
			if v.Name() != l.Origin {
				return nil, fmt.Errorf("witness: log %q: key is named %q, not the origin", l.Origin, v.Name())
			}
			vs = append(vs, v)
		}
		out[l.Origin] = note.VerifierList(vs...)
	}
	return out, nil
}

func originHash(origin string) string {
	h := sha256.Sum256([]byte(origin))
	return hex.EncodeToString(h[:])
}

func (s *Server) statePath(origin string) string {
	return filepath.Join(s.dir, originHash(origin)+".checkpoint")
}

// load reads a log's state file, checking both the log's signature and
// our own cosignature on it: a state file that does not verify is damage,
// and the witness refuses to start rather than cosign from a guess.
func (s *Server) load(origin string, logKeys note.Verifiers) (logState, error) {
	b, err := os.ReadFile(s.statePath(origin))
	if errors.Is(err, os.ErrNotExist) {
		return logState{root: rfc6962.DefaultHasher.EmptyRoot()}, nil
	}
	if err != nil {
		return logState{}, fmt.Errorf("witness: couldn't read state of %q: %w", origin, err)
	}
	own, _ := NewVerifier(s.signer.VerifierKey())
	n, err := note.Open(b, verifierUnion{logKeys, own})
	if err != nil {
		return logState{}, fmt.Errorf("witness: state of %q (%s) does not verify: %w", origin, s.statePath(origin), err)
	}
	ours := false
	for _, sig := range n.Sigs {
		ours = ours || sig.Name == own.Name() && sig.Hash == own.KeyHash()
	}
	c, err := merkle.ParseCheckpointText(n.Text)
	if err != nil || !ours || c.Origin != origin {
		return logState{}, fmt.Errorf("witness: state of %q (%s) is not a checkpoint of that log cosigned by this witness", origin, s.statePath(origin))
	}
	return logState{size: c.Size, root: c.Hash, checkpoint: b}, nil
}

// verifierUnion looks a key up in a list, then in one more verifier.
type verifierUnion struct {
	list  note.Verifiers
	extra note.Verifier
}

func (u verifierUnion) Verifier(name string, hash uint32) (note.Verifier, error) {
	if name == u.extra.Name() && hash == u.extra.KeyHash() {
		return u.extra, nil
	}
	return u.list.Verifier(name, hash)
}

// Size returns the size of the latest checkpoint cosigned for origin.
func (s *Server) Size(origin string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state[origin].size
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/add-checkpoint":
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			http.Error(w, "add-checkpoint takes POST", http.StatusMethodNotAllowed)
			return
		}
		s.addCheckpoint(w, r)
	case strings.HasSuffix(r.URL.Path, "/checkpoint") && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		s.serveCheckpoint(w, strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/checkpoint"))
	default:
		http.Error(w, "not found", http.StatusNotFound)
	}
}

func (s *Server) serveCheckpoint(w http.ResponseWriter, hash string) {
	s.mu.Lock()
	var cp []byte
	for origin, st := range s.state {
		if originHash(origin) == hash {
			cp = st.checkpoint
		}
	}
	s.mu.Unlock()
	if cp == nil {
		http.Error(w, "no checkpoint cosigned for that log", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(cp)
}

// rejection is an answer other than 200.
type rejection struct {
	code int
	msg  string
	size uint64 // for 409
}

func (e *rejection) Error() string { return e.msg }

func reject(code int, format string, args ...any) *rejection {
	return &rejection{code: code, msg: fmt.Sprintf(format, args...)}
}

func (s *Server) addCheckpoint(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestSize+1))
	if err != nil {
		http.Error(w, "couldn't read the request", http.StatusBadRequest)
		return
	}
	origin, sig, err := s.add(body)
	var rej *rejection
	switch {
	case err == nil:
		s.reqs.WithLabelValues(origin, "200").Inc()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(sig)
	case errors.As(err, &rej):
		label := origin
		if rej.code == http.StatusNotFound || rej.code == http.StatusBadRequest && origin == "" {
			label = "" // unbounded values never become label values
		}
		s.reqs.WithLabelValues(label, strconv.Itoa(rej.code)).Inc()
		s.logger.Warn("add-checkpoint refused", "origin", label, "code", rej.code, "reason", rej.msg)
		if rej.code == http.StatusConflict {
			w.Header().Set("Content-Type", ContentTypeSize)
			w.WriteHeader(http.StatusConflict)
			fmt.Fprintf(w, "%d\n", rej.size)
			return
		}
		http.Error(w, rej.msg, rej.code)
	default:
		s.reqs.WithLabelValues(origin, "500").Inc()
		s.logger.Error("add-checkpoint failed", "origin", origin, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
	}
}

// add runs one add-checkpoint: it returns the cosignature line, or a
// *rejection, or another error (the state could not be persisted: nothing
// is cosigned).
func (s *Server) add(body []byte) (origin string, sig []byte, err error) {
	if len(body) > MaxRequestSize {
		return "", nil, reject(http.StatusRequestEntityTooLarge, "request larger than %d bytes", MaxRequestSize)
	}
	req, err := ParseAddCheckpoint(body)
	if err != nil {
		return "", nil, reject(http.StatusBadRequest, "malformed request: %v", err)
	}
	first, _, _ := bytes.Cut(req.Checkpoint, []byte("\n"))
	origin = string(first)
	keys, ok := s.logs[origin]
	if !ok {
		return "", nil, reject(http.StatusNotFound, "unknown log")
	}
	n, err := note.Open(req.Checkpoint, keys)
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		if errors.As(err, &unverified) || errors.As(err, &invalid) {
			return origin, nil, reject(http.StatusForbidden, "checkpoint not signed by a key of the log: %v", err)
		}
		return origin, nil, reject(http.StatusBadRequest, "malformed checkpoint: %v", err)
	}
	cp, err := merkle.ParseCheckpointText(n.Text)
	if err != nil {
		return origin, nil, reject(http.StatusBadRequest, "malformed checkpoint: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state[origin]
	if rej := decide(st.size, st.root, req, cp); rej != nil {
		return origin, nil, rej
	}
	signed, err := note.Sign(&note.Note{Text: n.Text}, s.signer)
	if err != nil {
		return origin, nil, err
	}
	line := signed[len(n.Text)+1:]
	kept, err := Merge(req.Checkpoint, line)
	if err != nil {
		return origin, nil, err
	}
	if err := atomicfile.Replace(s.statePath(origin), kept, 0o600); err != nil {
		return origin, nil, fmt.Errorf("couldn't persist state: %w", err)
	}
	s.state[origin] = logState{size: cp.Size, root: cp.Hash, checkpoint: kept}
	s.sizes.WithLabelValues(origin).Set(float64(cp.Size))
	return origin, line, nil
}

// decide applies tlog-witness's rules to a request whose checkpoint
// verified, given the latest cosigned size and root: nil means cosign.
func decide(size uint64, root []byte, req AddCheckpoint, cp merkle.Checkpoint) *rejection {
	switch {
	case req.OldSize > cp.Size:
		return reject(http.StatusBadRequest, "old size %d is larger than the checkpoint's %d", req.OldSize, cp.Size)
	case req.OldSize != size:
		return &rejection{code: http.StatusConflict, msg: fmt.Sprintf("old size %d, but the latest cosigned size is %d", req.OldSize, size), size: size}
	case cp.Size == 0 && !bytes.Equal(cp.Hash, rfc6962.DefaultHasher.EmptyRoot()):
		return reject(http.StatusUnprocessableEntity, "a checkpoint of size 0 must have the empty tree's root")
	case req.OldSize == 0 && len(req.Proof) > 0:
		return reject(http.StatusUnprocessableEntity, "a proof from size 0 must be empty")
	case req.OldSize == cp.Size && !bytes.Equal(root, cp.Hash):
		return reject(http.StatusUnprocessableEntity, "root at size %d differs from the one cosigned: a fork", cp.Size)
	case req.OldSize == cp.Size && len(req.Proof) > 0:
		return reject(http.StatusUnprocessableEntity, "a proof between equal sizes must be empty")
	case req.OldSize > 0 && req.OldSize < cp.Size:
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, req.OldSize, cp.Size, req.Proof, root, cp.Hash); err != nil {
			return reject(http.StatusUnprocessableEntity, "consistency proof from %d to %d does not verify against the cosigned root %s: the log forked, or the proof is wrong",
				req.OldSize, cp.Size, base64.StdEncoding.EncodeToString(root))
		}
	}
	return nil
}
