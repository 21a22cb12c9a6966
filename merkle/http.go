package merkle

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// maxProofParam bounds numeric query parameters; sizes are further bounded
// by the current checkpoint.
const maxProofParam = 1 << 63

// Handler serves the log read-only over HTTP. Only these paths exist:
//
//	GET /checkpoint                      text/plain; charset=utf-8, Cache-Control: no-cache
//	GET /tile/<L>/<N>[.p/<W>]            application/octet-stream, immutable
//	GET /tile/entries/<N>[.p/<W>]        application/octet-stream, immutable
//	GET /proof/inclusion?index=I&size=S  text/plain: one base64 hash per line
//	GET /proof/consistency?from=A&to=B   text/plain: one base64 hash per line
//	GET /proof/bundle?index=I            text/plain: a c2sp.org/tlog-proof@v1
//	                                     against the current checkpoint
//
// Tile paths must be canonical and covered by the current checkpoint, so a
// resource is only served once its content is final; everything else in
// the directory (journal, lock, a neighbouring payload store) is never
// reachable. Proof parameters are canonical decimals; bad ones get 400 with
// the reason, sizes beyond the checkpoint get 404.
//
// Mount it under a prefix with [http.StripPrefix].
func (l *Log) Handler() http.Handler { return &handler{l} }

type handler struct{ l *Log }

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		httpError(w, http.StatusMethodNotAllowed, "only GET and HEAD")
		return
	}
	p := strings.TrimPrefix(r.URL.Path, "/")
	switch {
	case p == CheckpointPath:
		cp := h.l.Checkpoint()
		if cp == nil {
			httpError(w, http.StatusServiceUnavailable, "no checkpoint has been cosigned by a quorum of witnesses yet")
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(cp)
	case strings.HasPrefix(p, "tile/"):
		h.serveTile(w, p)
	case p == "proof/inclusion" || p == "proof/consistency" || p == "proof/bundle":
		h.serveProof(w, r, p)
	default:
		httpError(w, http.StatusNotFound, "not found")
	}
}

func (h *handler) serveTile(w http.ResponseWriter, p string) {
	tp, err := ParseTilePath(p)
	if err != nil {
		httpError(w, http.StatusNotFound, err.Error())
		return
	}
	size := h.l.PublishedSize()
	if !tp.covered(size) {
		httpError(w, http.StatusNotFound, fmt.Sprintf("%s is not part of the tree at size %d", p, size))
		return
	}
	var data []byte
	if tp.Entries {
		data, err = h.bundle(tp, size)
	} else {
		data, err = h.hashTile(tp, size)
	}
	if err != nil {
		httpError(w, http.StatusInternalServerError, "couldn't read tile")
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Write(data)
}

func (h *handler) hashTile(tp TilePath, _ uint64) ([]byte, error) { return h.l.tr.load(tp) }

func (h *handler) bundle(tp TilePath, _ uint64) ([]byte, error) { return h.l.tr.loadBundle(tp) }

func (h *handler) serveProof(w http.ResponseWriter, r *http.Request, p string) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		httpError(w, http.StatusBadRequest, "malformed query string")
		return
	}
	size := h.l.PublishedSize()
	var hashes [][]byte
	switch p {
	case "proof/inclusion":
		idx, sz, code, perr := proofRange(q, "index", "size", true, size)
		if perr != nil {
			httpError(w, code, perr.Error())
			return
		}
		hashes, err = h.l.InclusionProof(r.Context(), idx, sz)
	case "proof/consistency":
		from, to, code, perr := proofRange(q, "from", "to", false, size)
		if perr != nil {
			httpError(w, code, perr.Error())
			return
		}
		hashes, err = h.l.ConsistencyProof(r.Context(), from, to)
	case "proof/bundle":
		idx, err := uintParam(q, "index", false)
		if err != nil {
			httpError(w, http.StatusBadRequest, err.Error())
			return
		}
		pr, err := h.l.ProofBundle(r.Context(), idx)
		if errors.Is(err, ErrOutOfRange) {
			httpError(w, http.StatusNotFound, err.Error())
			return
		}
		if err != nil {
			httpError(w, http.StatusInternalServerError, "couldn't build proof")
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(pr.Encode())
		return
	}
	if err != nil {
		httpError(w, http.StatusInternalServerError, "couldn't build proof")
		return
	}
	var b bytes.Buffer
	for _, hh := range hashes {
		b.WriteString(base64.StdEncoding.EncodeToString(hh))
		b.WriteByte('\n')
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	// A proof between two sizes never changes once both are published.
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Write(b.Bytes())
}

// proofRange reads the two bounds of a proof request, lo and hi, and
// checks them against each other and the checkpoint size: lo must be
// below hi (strict, for an inclusion proof's index and size) or not above
// it, and hi not beyond size. On failure it returns the HTTP status to
// answer with: 400 for a malformed or inverted request, 404 for a tree
// the log has not reached.
func proofRange(q url.Values, lo, hi string, strict bool, size uint64) (l, h uint64, code int, err error) {
	l, err1 := uintParam(q, lo, false)
	h, err2 := uintParam(q, hi, false)
	switch {
	case err1 != nil || err2 != nil:
		return 0, 0, http.StatusBadRequest, errors.Join(err1, err2)
	case strict && l >= h:
		return 0, 0, http.StatusBadRequest, fmt.Errorf("%s %d must be below %s %d", lo, l, hi, h)
	case !strict && l > h:
		return 0, 0, http.StatusBadRequest, fmt.Errorf("%s %d must not exceed %s %d", lo, l, hi, h)
	case h > size:
		return 0, 0, http.StatusNotFound, fmt.Errorf("%s %d is beyond the checkpoint size %d", hi, h, size)
	}
	return l, h, 0, nil
}

func uintParam(q url.Values, name string, optional bool) (uint64, error) {
	vs, ok := q[name]
	if !ok {
		if optional {
			return 0, nil
		}
		return 0, fmt.Errorf("missing parameter %q", name)
	}
	if len(vs) != 1 {
		return 0, fmt.Errorf("parameter %q given %d times", name, len(vs))
	}
	n, err := parseDecimal(vs[0])
	if err != nil || n >= maxProofParam {
		return 0, fmt.Errorf("parameter %q: %q is not a canonical decimal below 2^63", name, vs[0])
	}
	return n, nil
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}
