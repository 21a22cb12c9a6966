// Package auth authenticates gateway callers by bearer JWTs.
//
// A caller sends "Authorization: Bearer <jwt>". The token is a compact JWS
// (RFC 7515) signed with EdDSA (Ed25519), ES256 (ECDSA P-256) or RS256 (RSA,
// at least 2048 bits); "none", HS* and every other algorithm are refused, and
// each key verifies only the algorithm of its type, so an RSA key never
// checks an ES256 or HS256 signature. Headers that would make the verifier
// fetch or trust key material named by the token itself (jku, x5u, jwk) are
// ignored, and a "crit" header is refused.
//
// # Issuers
//
// Trusted issuers come from configuration ([IssuerConfig]): each has static
// PEM public keys, a JWKS URL, or both. The issuer is chosen by the token's
// unverified iss claim and the token is then verified with that issuer's keys
// only; if the token names a kid, only with the keys of that kid (and static
// keys that have none). JWKS are fetched over https with a bounded timeout and size, refreshed
// periodically and when a token names an unknown kid (rate-limited), and an
// issuer whose JWKS cannot be fetched fails closed.
//
// # Claims
//
//	iss         string, required: a configured issuer
//	sub         string, required: the user (≤ 256 bytes, no control characters)
//	exp         NumericDate, required; at most the issuer's max_lifetime (24h
//	            by default) after iat, and after now
//	nbf, iat    NumericDate, optional; must not be in the future
//	aud         string or array; must contain the issuer's audience if one is configured
//	department  string, required: the department the caller acts for ([a-z0-9-]{1,64})
//	roles       array of "analyst", "auditor", "citizen"; required, non-empty
//	citizen_id  string: required with role citizen, refused without it; a
//	            valid resident identity number (GB 11643, check character verified)
//
// A citizen token carries the role citizen alone: a person querying the
// records about themself must not at the same time hold the department-wide
// powers of an analyst or auditor, and a token claiming both is refused
// rather than trimmed. Unknown roles are refused, not ignored, so a typo in
// an identity provider's mapping is an error and not a silent loss of access.
// Citizens still name a department: the one whose portal issued their token,
// recorded as the consumer of their queries.
//
// # Errors
//
// Every refusal is an [*Error] matching one sentinel error; [Reason] gives
// its machine code:
//
//	no-token                no Authorization header, another scheme, or an empty token
//	malformed-token         not a compact JWT, undecodable, over MaxTokenSize, "crit" header
//	bad-signature           signature does not verify, refused algorithm, unknown kid
//	expired                 exp in the past
//	not-yet-valid           nbf or iat in the future
//	unknown-issuer          no iss, or iss not configured
//	wrong-audience          aud lacks the configured audience
//	bad-claims              a claim missing, mistyped or invalid (the message names it)
//	department-not-allowed  the issuer may not vouch for the token's department
//	keys-unavailable        the issuer's JWKS could not be fetched (fail closed)
//
// The signature is checked before any claim, so an expired or misaddressed
// forgery is reported as bad-signature.
//
// # Dev issuer
//
// [DevIssuer] is a local issuer backed by an Ed25519 key file, shared by
// `crossledger dev` (which trusts it) and `crossledger token` (which issues
// from it).
//
// auth imports schema (for the citizen id check) and nothing else of
// crossledger.
package auth
