package limits

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// LimitBody returns a handler that refuses request bodies over max bytes
// with 413 and a GraphQL-style error body before h sees them:
//
//	{"errors":[{"message":"...","extensions":{"code":"BODY_TOO_LARGE"}}]}
//
// A declared Content-Length over max is refused without reading the body;
// otherwise LimitBody reads at most max+1 bytes and hands h the buffered
// body, so h can read it (and r.ContentLength is exact) without any further
// limit. The refused connection is closed rather than drained.
func LimitBody(h http.Handler, max int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			tooLarge(w, max)
			return
		}
		if r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
		if err != nil {
			writeError(w, http.StatusBadRequest, "BAD_REQUEST", fmt.Sprintf("couldn't read the request body: %v", err))
			return
		}
		if int64(len(body)) > max {
			tooLarge(w, max)
			return
		}
		r2 := r.WithContext(r.Context()) // a shallow copy: h sees the buffered body
		r2.Body = io.NopCloser(bytes.NewReader(body))
		r2.ContentLength = int64(len(body))
		h.ServeHTTP(w, r2)
	})
}

func tooLarge(w http.ResponseWriter, max int64) {
	w.Header().Set("Connection", "close")
	writeError(w, http.StatusRequestEntityTooLarge, CodeBodyTooLarge,
		fmt.Sprintf("request body exceeds the limit of %d bytes", max))
}

// writeError answers with one GraphQL error carrying code in its
// extensions.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	type ext struct {
		Code string `json:"code"`
	}
	type gqlErr struct {
		Message    string `json:"message"`
		Extensions ext    `json:"extensions"`
	}
	b, _ := json.Marshal(struct {
		Errors []gqlErr `json:"errors"`
	}{[]gqlErr{{msg, ext{code}}}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
