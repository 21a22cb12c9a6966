package auth

import (
	"errors"
	"fmt"
)

// Sentinel errors, one per denial reason. Every error that [Authenticator.Verify]
// and [Authenticator.Authenticate] return is an [*Error] that matches exactly
// one of them with [errors.Is]; [Reason] maps it to its machine code.
var (
	// ErrNoToken: the request carries no bearer token.
	ErrNoToken = errors.New("no bearer token")
	// ErrMalformedToken: the token is not a well-formed compact JWS/JWT, or
	// is longer than [MaxTokenSize].
	ErrMalformedToken = errors.New("malformed token")
	// ErrBadSignature: the signature does not verify under any key of the
	// issuer, names an algorithm that is not accepted (none, HS*, or one
	// that does not fit the key's type), or names a key id the issuer does
	// not publish.
	ErrBadSignature = errors.New("bad signature")
	// ErrExpired: the token's exp is in the past (beyond the leeway).
	ErrExpired = errors.New("token expired")
	// ErrNotYetValid: the token's nbf or iat is in the future (beyond the
	// leeway).
	ErrNotYetValid = errors.New("token not yet valid")
	// ErrUnknownIssuer: the token names no issuer, or one that is not
	// configured.
	ErrUnknownIssuer = errors.New("unknown issuer")
	// ErrWrongAudience: the issuer's configuration names an audience and
	// the token's aud does not contain it.
	ErrWrongAudience = errors.New("wrong audience")
	// ErrBadClaims: a required claim is missing or a claim has the wrong
	// type or value (exp missing, exp further than the issuer's max
	// lifetime after iat or now, unknown role, citizen without a valid
	// citizen_id, …). The error names the claim.
	ErrBadClaims = errors.New("bad claims")
	// ErrDepartmentNotAllowed: the token is valid but its issuer may not
	// vouch for the department it names.
	ErrDepartmentNotAllowed = errors.New("department not allowed for issuer")
	// ErrKeysUnavailable: the issuer publishes its keys at a JWKS URL that
	// could not be fetched (or was last fetched too long ago), so no token
	// of that issuer can be verified. Authentication fails closed; this is
	// the server's problem, not the caller's (a gateway may answer 503).
	ErrKeysUnavailable = errors.New("issuer keys unavailable")
)

// reasons maps each sentinel to its machine-readable code.
var reasons = []struct {
	err  error
	code string
}{
	{ErrNoToken, "no-token"},
	{ErrMalformedToken, "malformed-token"},
	{ErrBadSignature, "bad-signature"},
	{ErrExpired, "expired"},
	{ErrNotYetValid, "not-yet-valid"},
	{ErrUnknownIssuer, "unknown-issuer"},
	{ErrWrongAudience, "wrong-audience"},
	{ErrBadClaims, "bad-claims"},
	{ErrDepartmentNotAllowed, "department-not-allowed"},
	{ErrKeysUnavailable, "keys-unavailable"},
}

// Reason returns the machine-readable denial code for an authentication
// error: "no-token", "malformed-token", "bad-signature", "expired",
// "not-yet-valid", "unknown-issuer", "wrong-audience", "bad-claims",
// "department-not-allowed" or "keys-unavailable". It returns "" for nil and
// "unauthenticated" for an error that did not come from this package.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		for _, r := range reasons {
			if e.Kind == r.err {
				return r.code
			}
		}
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.code
		}
	}
	return "unauthenticated"
}

// Error is why a token or request was not authenticated. It carries the
// evidence a log line or an operator needs; the code for a client is
// [Reason].
type Error struct {
	// Kind is one of the sentinel errors above (ErrExpired, …).
	Kind error
	// Issuer is the issuer the token claimed, verified or not; "" if unknown.
	Issuer string
	// Detail says what exactly was wrong, for humans: which claim, which
	// key id, when it expired.
	Detail string
	// Err is the underlying error, if any (from the JWT library, the JWKS
	// fetch, the citizen id check).
	Err error
}

func (e *Error) Error() string {
	msg := "auth: " + e.Kind.Error()
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Issuer != "" {
		msg += fmt.Sprintf(" (issuer %q)", e.Issuer)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap lets errors.Is match both the Kind and the underlying error.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

func fail(kind error, issuer, detail string, err error) *Error {
	return &Error{Kind: kind, Issuer: issuer, Detail: detail, Err: err}
}
