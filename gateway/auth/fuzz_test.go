package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzVerify: no input panics, and no token is accepted unless its
// signature verifies — checked here independently of the JWT library —
// under one of the configured keys with the algorithm of that key's type.
func FuzzVerify(f *testing.F) {
	clock := newClock()
	now := clock.Now()
	a := newAuth(f, clock, []IssuerConfig{staticConfig(f)})
	c := claimsAt(now)
	f.Add(sign(f, jwt.SigningMethodEdDSA, edKey(), "", c))
	f.Add(sign(f, jwt.SigningMethodES256, ecKey(), "kid", c))
	f.Add(sign(f, jwt.SigningMethodRS256, rsaKey(), "", c))
	f.Add(sign(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", c))
	f.Add(sign(f, jwt.SigningMethodHS256, []byte(pemOf(f, edKey().Public())), "", c))
	f.Add(sign(f, jwt.SigningMethodEdDSA, otherEdKey(), "", c))
	cit := claimsAt(now)
	cit["roles"] = []string{"citizen"}
	cit["citizen_id"] = testCitizenA
	f.Add(sign(f, jwt.SigningMethodEdDSA, edKey(), "", cit))
	f.Add("")
	f.Add("..")
	f.Add("e30.e30.")
	f.Fuzz(func(t *testing.T, token string) {
		id, err := a.Verify(context.Background(), token)
		if err != nil {
			if Reason(err) == "unauthenticated" || countSentinels(err) != 1 {
				t.Fatalf("error without exactly one reason: %v", err)
			}
			return
		}
		if !independentlyVerified(token) {
			t.Fatalf("accepted a token not signed by a configured key: %q", token)
		}
		if id.Issuer != testIssuer || id.User == "" || id.Department == "" || len(id.Roles) == 0 ||
			id.Has(RoleCitizen) != (id.CitizenID != "") || id.Expires.Before(now.Add(-DefaultLeeway)) {
			t.Fatalf("accepted an identity that breaks the rules: %+v", id)
		}
	})
}

func independentlyVerified(token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	sig, err2 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil {
		return false
	}
	var h struct{ Alg string }
	if json.Unmarshal(hb, &h) != nil {
		return false
	}
	msg := []byte(parts[0] + "." + parts[1])
	switch h.Alg {
	case "EdDSA":
		return ed25519.Verify(edKey().Public().(ed25519.PublicKey), msg, sig)
	case "ES256":
		if len(sig) != 64 {
			return false
		}
		sum := sha256.Sum256(msg)
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(&ecKey().PublicKey, sum[:], r, s)
	case "RS256":
		sum := sha256.Sum256(msg)
		return rsa.VerifyPKCS1v15(&rsaKey().PublicKey, crypto.SHA256, sum[:], sig) == nil
	}
	return false
}
