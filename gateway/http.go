package gateway

import (
	"context"
	"encoding/json"
	"errors"
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
	mux.Handle("/graphql", limits.LimitBody(http.HandlerFunc(g.serveGraphQL), g.cfg.Limits.MaxBodyBytes))
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

	// Authenticate first: unauthenticated requests are rate limited by
	// IP, denied and logged before their body is even parsed.
	id, aerr := g.deps.Auth.Authenticate(r)
	if aerr != nil {
		op, outcome = "unauthenticated", "denied"
		if ok, retry := g.rate.Anonymous.Allow(limits.RemoteKey(r)); !ok {
			tooMany(w, retry)
			outcome = "rate-limited"
			return
		}
		reason := auth.Reason(aerr)
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
		return
	}
	if ok, retry := g.rate.Authenticated.Allow(id.Issuer + "\x00" + id.User); !ok {
		op, outcome = "rate-limited", "rate-limited"
		tooMany(w, retry)
		return
	}

	var req request
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil { // the body is already bounded by limits.LimitBody
		writeErrors(w, http.StatusBadRequest, newError(codeBadRequest, "the body is not a GraphQL request: "+err.Error()))
		return
	}
	if req.Query == "" {
		writeErrors(w, http.StatusBadRequest, newError(codeBadRequest, "the request has no query"))
		return
	}
	vars := normalizeNumbers(req.Variables)
	if _, err := g.checker.Check(req.Query, req.OperationName, vars); err != nil {
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
	resp := g.schema.Exec(ctx, req.Query, req.OperationName, vars)

	op = st.operation()
	var ids []string
	if st.data {
		ids, err = g.writeAccess(ctx, st, req.Query)
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
	writeResponse(w, http.StatusOK, resp, ids)
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
