package gateway

import (
	"errors"

	gqlerrors "github.com/graph-gophers/graphql-go/errors"
)

type gqlerror = gqlerrors.QueryError

// Error codes in errors[].extensions.code. Denials carry the
// machine-readable denial reason in extensions.reason as well.
const (
	codeUnauthenticated = "UNAUTHENTICATED"   // no, bad or expired token
	codeForbidden       = "FORBIDDEN"         // authenticated, not allowed (reason says why)
	codeBadRequest      = "BAD_REQUEST"       // malformed request or argument
	codeNotFound        = "NOT_FOUND"         // no such record
	codeRateLimited     = "RATE_LIMITED"      // too many requests
	codeUnavailable     = "UNAVAILABLE"       // a department's store failed, or the ledger is behind
	codeAccessLog       = "ACCESS_LOG_FAILED" // the access entry could not be written: no data returned
	codeTimeout         = "TIMEOUT"
	codeInternal        = "INTERNAL"
)

// Error is a resolver error with a code (and, for denials, a reason)
// that graphql-go puts into the error's extensions.
type Error struct {
	Code   string
	Reason string // denial reason (schema.AccessDenial.Reason), if a denial
	Msg    string
	Extra  map[string]any
}

func (e *Error) Error() string { return e.Msg }

// Extensions implements graphql-go's extensions interface.
func (e *Error) Extensions() map[string]any {
	m := map[string]any{"code": e.Code}
	if e.Reason != "" {
		m["reason"] = e.Reason
	}
	for k, v := range e.Extra {
		m[k] = v
	}
	return m
}

func newError(code, msg string) *gqlerror {
	return &gqlerror{Message: msg, Extensions: map[string]any{"code": code}}
}

func denied(reason, msg string) *Error {
	return &Error{Code: codeForbidden, Reason: reason, Msg: msg}
}

func badRequest(msg string) *Error { return &Error{Code: codeBadRequest, Msg: msg} }

var errGrantsBehind = errors.New("gateway: the grant scan is behind the log")
