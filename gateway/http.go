package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	graphql "github.com/graph-gophers/graphql-go"

	"github.com/crossledger/crossledger/gateway/auth"
	"github.com/crossledger/crossledger/gateway/limits"
	"github.com/crossledger/crossledger/schema"
)

// request is a GraphQL-over-HTTP request body.
type request struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
}

// Handler serves GraphQL at POST /graphql. Mount GraphiQL
// (gateway/graphiql), the log's tile API and /metrics beside it.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/graphql", http.HandlerFunc(g.serveGraphQL))
	return mux
}

func (g *Gateway) serveGraphQL(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	op := "invalid"
	outcome := "error"
	defer func() {
		g.metrics.requests.WithLabelValues(op, outcome).Inc()
		g.metrics.latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
	}()

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeErrors(w, http.StatusMethodNotAllowed, newError(codeBadRequest, "use POST with a JSON body {\"query\": …}"))
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeErrors(w, http.StatusUnsupportedMediaType, newError(codeBadRequest, "the body must be application/json"))
		return
	}

	if r.ContentLength > g.cfg.Limits.MaxBodyBytes {
		w.Header().Set("Connection", "close")
		writeErrors(w, http.StatusRequestEntityTooLarge, newError(limits.CodeBodyTooLarge,
			fmt.Sprintf("request body exceeds the limit of %d bytes", g.cfg.Limits.MaxBodyBytes)))
		dropBody(w)
		return
	}

	// Authenticate first, from the headers alone: an unauthenticated
	// request is rate limited by IP, denied and logged without a byte of
	// its body read, and its connection closed (so a client trickling a
	// body holds nothing).
	id, aerr := g.authenticate(r)
	if aerr != nil {
		w.Header().Set("Connection", "close")
		op, outcome = "unauthenticated", "denied"
		if ok, retry := g.rate.Anonymous.Allow(limits.RemoteKey(r)); !ok {
			tooMany(w, retry)
			outcome = "rate-limited"
			return
		}
		reason := authReason(aerr)
		st := &reqState{g: g, now: g.cfg.Now(), subjects: map[string]bool{}, disclosed: map[uint64][]string{}}
		st.deny(schema.AccessDenial{Department: g.cfg.ID, Reason: reason})
		ctx, cancel := context.WithTimeout(r.Context(), g.cfg.Limits.QueryTimeout)
		defer cancel()
		ids, werr := g.writeAccess(ctx, st, "")
		if werr != nil {
			g.logger.Error("gateway: couldn't log a denied request", "reason", reason, "err", werr)
		}
		e := newError(codeUnauthenticated, aerr.Error())
		e.Extensions["reason"] = reason
		w.Header().Set("WWW-Authenticate", `Bearer realm="crossledger"`)
		writeResponse(w, http.StatusUnauthorized, &graphql.Response{Errors: []*gqlerror{e}}, ids)
		dropBody(w)
		return
	}
	if ok, retry := g.rate.Authenticated.Allow(id.Issuer + "\x00" + id.User); !ok {
		op, outcome = "rate-limited", "rate-limited"
		tooMany(w, retry)
		return
	}

	req, status, err := readRequest(w, r, g.cfg.Limits.MaxBodyBytes)
	if err != nil {
		code := codeBadRequest
		if status == http.StatusRequestEntityTooLarge {
			code = limits.CodeBodyTooLarge
			w.Header().Set("Connection", "close")
		}
		writeErrors(w, status, newError(code, err.Error()))
		return
	}
	if req.Query == "" {
		writeErrors(w, http.StatusBadRequest, newError(codeBadRequest, "the request has no query"))
		return
	}
	vars := normalizeNumbers(req.Variables)
	rep, err := g.checker.Check(req.Query, req.OperationName, vars)
	if err != nil {
		outcome = "refused"
		var le *limits.LimitError
		if errors.As(err, &le) {
			writeErrors(w, http.StatusBadRequest, newError(le.Code, le.Error()))
			return
		}
		writeErrors(w, http.StatusBadRequest, newError(codeBadRequest, err.Error()))
		return
	}

	signed, cp, err := g.checkpoint()
	if err != nil {
		g.logger.Error("gateway: no usable checkpoint", "err", err)
		writeErrors(w, http.StatusServiceUnavailable, newError(codeUnavailable, "the ledger's checkpoint is not available"))
		return
	}
	st := &reqState{g: g, authenticated: true, id: id, signed: signed, cp: cp, now: g.cfg.Now(),
		subjects: map[string]bool{}, disclosed: map[uint64][]string{}, authzs: map[string]*authz{}}
	ctx, cancel := context.WithTimeout(context.WithValue(r.Context(), stateKey{}, st), g.cfg.Limits.QueryTimeout)
	defer cancel()
	// graphql-go runs the document the checker measured, printed
	// canonically, never the caller's text: the two parsers cannot
	// disagree about what runs.
	run := g.schema
	if rep.Introspection {
		run = g.introSchema
	}
	resp := run.Exec(ctx, rep.Query, req.OperationName, vars)

	op = st.operation()
	var ids []string
	if st.data {
		// The entry gets its own time: a query that used up its
		// QueryTimeout must still leave its denials in the ledger (or be
		// answered with no data).
		actx, acancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.Limits.QueryTimeout)
		ids, err = g.writeAccess(actx, st, req.Query)
		acancel()
		if err != nil {
			g.logger.Error("gateway: couldn't write the access entry; answering with an error", "user", id.User, "err", err)
			writeErrors(w, http.StatusServiceUnavailable, newError(codeAccessLog, "the access could not be logged, so nothing is returned; try again"))
			return
		}
	}
	outcome = "ok"
	if len(resp.Errors) > 0 {
		outcome = "partial"
		if len(resp.Data) == 0 || string(resp.Data) == "null" {
			outcome = "error"
		}
	}
	if resp.Extensions == nil {
		resp.Extensions = map[string]any{}
	}
	resp.Extensions["checkpoint"] = map[string]any{"origin": cp.Origin, "size": cp.Size}
	if ws := st.warningList(); len(ws) > 0 {
		resp.Extensions["warnings"] = ws
	}
	writeResponse(w, http.StatusOK, resp, ids)
}

// dropBody makes the server close the connection once the response is
// out instead of reading the unread body to reuse it (net/http reads up
// to 256 KiB of it, for as long as the client takes to send it).
func dropBody(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}

// readRequest reads and decodes the request body, at most max bytes of
// it. Anything after the JSON object but white space is refused: a proxy
// that read the whole body would see another request than the gateway.
func readRequest(w http.ResponseWriter, r *http.Request, max int64) (request, int, error) {
	var req request
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return req, http.StatusRequestEntityTooLarge, fmt.Errorf("request body exceeds the limit of %d bytes", max)
	case err != nil:
		return req, http.StatusBadRequest, fmt.Errorf("couldn't read the request body: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil {
		return req, http.StatusBadRequest, fmt.Errorf("the body is not a GraphQL request: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, http.StatusBadRequest, errors.New("the body is not a GraphQL request: data after the JSON object")
	}
	return req, 0, nil
}

// authFailure is a refusal of a token's claims that only the gateway
// knows to make.
type authFailure struct{ reason, msg string }

func (e *authFailure) Error() string { return e.msg }

// authenticate authenticates r and refuses identities that claim the
// names the gateway reserves for refusals it logs.
func (g *Gateway) authenticate(r *http.Request) (auth.Identity, error) {
	id, err := g.deps.Auth.Authenticate(r)
	if err != nil {
		return id, err
	}
	if msg := reservedIdentity(id); msg != "" {
		return auth.Identity{}, &authFailure{reason: "bad-claims", msg: msg}
	}
	return id, nil
}

// reservedIdentity says why id may not be used, or "" if it may.
func reservedIdentity(id auth.Identity) string {
	switch {
	case id.Department == unauthenticatedConsumer:
		return fmt.Sprintf("claim department %q is reserved for the gateway's log of refused requests", id.Department)
	case id.User == anonymousUser:
		return fmt.Sprintf("claim sub %q is reserved for the gateway's log of refused requests", id.User)
	}
	return ""
}

func authReason(err error) string {
	var af *authFailure
	if errors.As(err, &af) {
		return af.reason
	}
	return auth.Reason(err)
}

// writeResponse writes resp with the access entries' ids in
// extensions.access.
func writeResponse(w http.ResponseWriter, status int, resp *graphql.Response, ids []string) {
	if len(ids) > 0 {
		if resp.Extensions == nil {
			resp.Extensions = map[string]any{}
		}
		acc := map[string]any{"id": ids[0]}
		if len(ids) > 1 {
			acc["ids"] = ids
		}
		resp.Extensions["access"] = acc
	}
	body, err := encodeResponse(resp)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"errors":[{"message":"internal error: couldn't encode the response","extensions":{"code":"INTERNAL"}}]}`)
	}
	w.Header().Set("Content-Type", "application/graphql-response+json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(body)
}

// encodeResponse encodes resp as json.Marshal would, but splices
// resp.Data (graphql-go's own valid, compact JSON: the bulk of a person
// answer) in as it is, where json.Marshal would scan and copy it again to
// compact and HTML-escape it.
func encodeResponse(resp *graphql.Response) ([]byte, error) {
	var errs, ext []byte
	var err error
	if len(resp.Errors) > 0 {
		if errs, err = json.Marshal(resp.Errors); err != nil {
			return nil, err
		}
	}
	if len(resp.Extensions) > 0 {
		if ext, err = json.Marshal(resp.Extensions); err != nil {
			return nil, err
		}
	}
	body := make([]byte, 0, len(errs)+len(resp.Data)+len(ext)+32)
	body = append(body, '{')
	field := func(name string, v []byte) {
		if len(v) == 0 {
			return
		}
		if len(body) > 1 {
			body = append(body, ',')
		}
		body = append(body, name...)
		body = append(body, v...)
	}
	field(`"errors":`, errs)
	field(`"data":`, resp.Data)
	field(`"extensions":`, ext)
	return append(body, '}'), nil
}

func writeErrors(w http.ResponseWriter, status int, errs ...*gqlerror) {
	writeResponse(w, status, &graphql.Response{Errors: errs}, nil)
}

func tooMany(w http.ResponseWriter, retry time.Duration) {
	secs := int(retry.Seconds() + 0.999)
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	writeErrors(w, http.StatusTooManyRequests, newError(codeRateLimited, "too many requests; slow down"))
}

// normalizeNumbers turns json.Numbers in variables into int32/int64 or
// float64, as graphql-go expects.
func normalizeNumbers(v map[string]any) map[string]any {
	if v == nil {
		return nil
	}
	out := make(map[string]any, len(v))
	for k, x := range v {
		out[k] = normalizeValue(x)
	}
	return out
}

func normalizeValue(x any) any {
	switch t := x.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			if i >= -1<<31 && i < 1<<31 {
				return int32(i)
			}
			return i
		}
		f, _ := t.Float64()
		return f
	case map[string]any:
		return normalizeNumbers(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = normalizeValue(e)
		}
		return out
	}
	return x
}
