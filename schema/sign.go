package schema

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"

	"github.com/oasisprotocol/curve25519-voi/curve"
	"github.com/oasisprotocol/curve25519-voi/curve/scalar"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// Signatures
//
// Every envelope is signed with Ed25519 over [Envelope.SigningBytes]: the
// canonical encoding without "sig". The signature goes into Sig as unpadded
// base64url. The key is named by its [KeyID], which is part of the signed
// bytes, so a signature cannot be re-attributed to another key.
//
// Verification semantics are those of Go's crypto/ed25519 (cofactorless,
// RFC 8032 §5.1.7 with S < L, non-canonical A accepted, non-canonical R
// rejected), everywhere: single, batch, and in every auditor's tool.

// GovernanceID is the Envelope.Department of entries signed with the
// governance key (department key registrations, and rotations or
// revocations decided by governance).
const GovernanceID = "governance"

// KeyID names a public key: the lowercase hex of the first 8 bytes of its
// SHA-256 — 16 characters, short enough to log, long enough that a
// department never has two keys that collide by accident.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Sign sets env.KeyID to the id of priv's public key, and env.Sig to the
// signature over the signing bytes.
func Sign(env *Envelope, priv ed25519.PrivateKey) error {
	env.KeyID = KeyID(priv.Public().(ed25519.PublicKey))
	msg, err := env.SigningBytes()
	if err != nil {
		return fmt.Errorf("couldn't sign envelope: %w", err)
	}
	env.Sig = base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv, msg))
	return nil
}

// Verify checks env's signature under pub. env.KeyID must be pub's id.
// Failures are [*SignatureError]s matching [ErrBadSignature].
func Verify(env *Envelope, pub ed25519.PublicKey) error {
	msg, sig, err := env.signed(pub)
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, msg, sig) {
		return env.sigErr(ErrBadSignature, "signature does not verify")
	}
	return nil
}

func (env *Envelope) signed(pub ed25519.PublicKey) (msg, sig []byte, err error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, nil, env.sigErr(ErrUnknownKey, "public key is not 32 bytes")
	}
	if env.KeyID != KeyID(pub) {
		return nil, nil, env.sigErr(ErrBadSignature, "key id does not match the public key "+KeyID(pub))
	}
	sig, err = b64.DecodeString(env.Sig)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, nil, env.sigErr(ErrBadSignature, "sig is not a base64url Ed25519 signature")
	}
	msg, err = env.SigningBytes()
	if err != nil {
		return nil, nil, env.sigErr(ErrBadSignature, err.Error())
	}
	return msg, sig, nil
}

func (env *Envelope) sigErr(sentinel error, reason string) *SignatureError {
	return &SignatureError{Department: env.Department, Seq: env.Seq, KeyID: env.KeyID, Reason: reason, Err: sentinel}
}

// KeyResolver finds the public key a signer used. It is the seam between
// signature checking and key history: the genesis file plus department.key
// entries ([KeyRing]), or a remote registry.
//
// ResolveKey returns the key named keyID of department (or [GovernanceID])
// that is valid for the entry at ledger index, or an error matching
// [ErrUnknownKey]. Implementations must be safe for concurrent use.
type KeyResolver interface {
	ResolveKey(department, keyID string, index uint64) (ed25519.PublicKey, error)
}

// VerifyEnvelope resolves env's key for ledger index and verifies env.
func VerifyEnvelope(env *Envelope, keys KeyResolver, index uint64) error {
	pub, err := keys.ResolveKey(env.Department, env.KeyID, index)
	if err != nil {
		return &SignatureError{Department: env.Department, Seq: env.Seq, KeyID: env.KeyID, Reason: err.Error(), Err: ErrUnknownKey}
	}
	return Verify(env, pub)
}

// VerifyEnvelopes is [VerifyEnvelope] for many envelopes at once, using
// [VerifyBatch]: errs[i] is nil when envs[i] verifies at indexes[i].
func VerifyEnvelopes(envs []*Envelope, keys KeyResolver, indexes []uint64) []error {
	errs := make([]error, len(envs))
	items := make([]BatchItem, 0, len(envs))
	pos := make([]int, 0, len(envs))
	for i, env := range envs {
		pub, err := keys.ResolveKey(env.Department, env.KeyID, indexes[i])
		if err != nil {
			errs[i] = &SignatureError{Department: env.Department, Seq: env.Seq, KeyID: env.KeyID, Reason: err.Error(), Err: ErrUnknownKey}
			continue
		}
		msg, sig, err := env.signed(pub)
		if err != nil {
			errs[i] = err
			continue
		}
		items = append(items, BatchItem{PublicKey: pub, Message: msg, Signature: sig})
		pos = append(pos, i)
	}
	for j, err := range VerifyBatch(items) {
		if err != nil {
			errs[pos[j]] = envs[pos[j]].sigErr(ErrBadSignature, "signature does not verify")
		}
	}
	return errs
}

// BatchItem is one signature to check with [VerifyBatch].
type BatchItem struct {
	PublicKey ed25519.PublicKey
	Message   []byte
	Signature []byte
}

// VerifyBatch checks many signatures and returns one error per item (nil
// when valid). It accepts and rejects exactly what ed25519.Verify does
// (and never panics on a short key).
//
// # How
//
// Each distinct public key is decoded and expanded once per call
// (precomputed tables for its multiples), then each signature is checked
// with curve25519-voi's cofactorless verifier, which reproduces
// crypto/ed25519's rules. This is faster than crypto/ed25519 because of
// the per-key tables, and exact by construction.
//
// A randomized batch equation (one multi-scalar multiplication for the
// whole batch) is only sound for the cofactored equation. It agrees with
// the cofactorless one exactly when A and R are both torsion-free and
// canonically encoded, and checking R's torsion costs about a scalar
// multiplication per signature, more than the batch saves (see
// docs/performance.md). verifyBatchEquation implements that route
// and is kept, tested and benchmarked as the alternative.
//
// VerifyBatch starts no goroutines; callers split large batches across
// cores.
func VerifyBatch(items []BatchItem) []error {
	errs := make([]error, len(items))
	keys := newKeyCache()
	for i, it := range items {
		if !verifyOne(keys, it) {
			errs[i] = fmt.Errorf("couldn't verify item %d: %w", i, ErrBadSignature)
		}
	}
	return errs
}

var stdlibOpts = &voi.Options{Verify: voi.VerifyOptionsStdLib}

// keyCache holds expanded public keys for one call.
type keyCache map[[32]byte]*voi.ExpandedPublicKey

func newKeyCache() keyCache { return keyCache{} }

func (c keyCache) get(pub ed25519.PublicKey) *voi.ExpandedPublicKey {
	var k [32]byte
	copy(k[:], pub)
	xp, ok := c[k]
	if !ok {
		xp, _ = voi.NewExpandedPublicKey(voi.PublicKey(pub)) // nil if A does not decode
		c[k] = xp
	}
	return xp
}

func verifyOne(keys keyCache, it BatchItem) bool {
	if len(it.PublicKey) != ed25519.PublicKeySize || len(it.Signature) != ed25519.SignatureSize {
		return false
	}
	xp := keys.get(it.PublicKey)
	if xp == nil {
		return false
	}
	return voi.VerifyExpandedWithOptions(xp, it.Message, it.Signature, stdlibOpts)
}

var fipsOpts = &voi.Options{Verify: voi.VerifyOptionsFIPS_186_5}

// verifyBatchEquation is the batch-equation alternative to VerifyBatch,
// with the same exact semantics: items whose A or R is non-canonical or
// has a torsion component go to the single verifier; the rest are checked
// with one cofactored batch equation, which for torsion-free canonical A
// and R holds exactly when every cofactorless equation holds (the
// difference [S]B − R − [k]A then lies in the prime-order subgroup, where
// "killed by 8" means zero); if the batch fails, each item is checked
// singly.
func verifyBatchEquation(items []BatchItem) []error {
	errs := make([]error, len(items))
	keys := newKeyCache()
	clean := map[[32]byte]bool{}
	bv := voi.NewBatchVerifierWithCapacity(len(items))
	var batched []int
	for i, it := range items {
		if len(it.PublicKey) != ed25519.PublicKeySize || len(it.Signature) != ed25519.SignatureSize {
			errs[i] = fmt.Errorf("couldn't verify item %d: %w", i, ErrBadSignature)
			continue
		}
		var k [32]byte
		copy(k[:], it.PublicKey)
		ok, seen := clean[k]
		if !seen {
			ok = torsionFreeCanonical(it.PublicKey)
			clean[k] = ok
		}
		xp := keys.get(it.PublicKey)
		if !ok || xp == nil || !torsionFreeCanonical(it.Signature[:32]) {
			if !verifyOne(keys, it) {
				errs[i] = fmt.Errorf("couldn't verify item %d: %w", i, ErrBadSignature)
			}
			continue
		}
		bv.AddExpandedWithOptions(xp, it.Message, it.Signature, fipsOpts)
		batched = append(batched, i)
	}
	if len(batched) == 0 {
		return errs
	}
	if bv.VerifyBatchOnly(nil) {
		return errs
	}
	for _, i := range batched {
		if !verifyOne(keys, items[i]) {
			errs[i] = fmt.Errorf("couldn't verify item %d: %w", i, ErrBadSignature)
		}
	}
	return errs
}

// torsionFreeCanonical reports whether b is the canonical encoding of a
// point in the prime-order subgroup.
func torsionFreeCanonical(b []byte) bool {
	var c curve.CompressedEdwardsY
	if _, err := c.SetBytes(b); err != nil || !c.IsCanonicalVartime() {
		return false
	}
	var p curve.EdwardsPoint
	if _, err := p.SetCompressedY(&c); err != nil {
		return false
	}
	var zero scalar.Scalar
	var q curve.EdwardsPoint
	return q.DoubleScalarMulBasepointVartime(scalar.BASEPOINT_ORDER, &p, &zero).IsIdentity()
}

// KeyRing is the in-memory [KeyResolver] built from a [Genesis] and the
// department.key entries that followed it, each applied at its ledger
// index with [KeyRing.Apply]. A key is valid for the entries after the
// one that registered it, up to and including the one that rotated or
// revoked it away. A KeyRing is safe for concurrent use.
type KeyRing struct {
	mu   sync.RWMutex
	keys map[string][]ringKey // department (or GovernanceID) → keys
}

type ringKey struct {
	id       string
	pub      ed25519.PublicKey
	from, to uint64 // valid for index in [from, to); to == 0: no end
}

func (k ringKey) validAt(index uint64) bool {
	return index >= k.from && (k.to == 0 || index < k.to)
}

// NewKeyRing returns a key ring holding the genesis keys.
func NewKeyRing(g *Genesis) (*KeyRing, error) {
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("couldn't build key ring: %w", err)
	}
	r := &KeyRing{keys: map[string][]ringKey{}}
	gov, _ := b64.DecodeString(g.GovernanceKey)
	r.keys[GovernanceID] = []ringKey{{id: KeyID(gov), pub: gov}}
	for _, d := range g.Departments {
		for _, k := range d.Keys {
			pub, _ := b64.DecodeString(k.PublicKey)
			r.keys[d.ID] = append(r.keys[d.ID], ringKey{id: KeyID(pub), pub: pub, from: k.ValidFrom})
		}
	}
	return r, nil
}

// ResolveKey implements [KeyResolver].
func (r *KeyRing) ResolveKey(department, keyID string, index uint64) (ed25519.PublicKey, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, k := range r.keys[department] {
		if k.id == keyID && k.validAt(index) {
			return k.pub, nil
		}
	}
	return nil, fmt.Errorf("couldn't resolve key %s of %s at index %d: %w", keyID, department, index, ErrUnknownKey)
}

// Apply applies a department.key entry logged at index. The caller has
// verified its signature; Apply checks the authority: registration is for
// the governance key only, rotation and revocation for governance or the
// department itself.
func (r *KeyRing) Apply(env *Envelope, index uint64) error {
	if env.Kind != KindDepartmentKey || env.Key == nil {
		return entryErr(ErrMalformed, "kind", "not a department.key entry")
	}
	k := env.Key
	if err := validateKeyBody(k); err != nil {
		return err
	}
	switch {
	case env.Department == GovernanceID:
	case k.Action != KeyRegister && env.Department == k.Department:
	default:
		return env.sigErr(ErrUnknownKey, fmt.Sprintf("%s may not %s keys of %s", env.Department, k.Action, k.Department))
	}
	if k.Department == GovernanceID {
		return entryErr(ErrMalformed, "key.department", "the governance key is fixed by the genesis file")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := r.keys[k.Department]
	exists := slices.ContainsFunc(keys, func(rk ringKey) bool { return rk.id == k.KeyID })
	switch k.Action {
	case KeyRegister, KeyRotate:
		if exists {
			return entryErr(ErrMalformed, "key.key_id", "key %s already known for %s", k.KeyID, k.Department)
		}
		pub, _ := b64.DecodeString(k.PublicKey)
		if k.Action == KeyRotate {
			for i := range keys {
				if keys[i].validAt(index + 1) {
					keys[i].to = index + 1
				}
			}
		}
		r.keys[k.Department] = append(keys, ringKey{id: k.KeyID, pub: pub, from: index + 1})
	case KeyRevoke:
		for i := range keys {
			if keys[i].id == k.KeyID && keys[i].validAt(index+1) {
				keys[i].to = index + 1
				return nil
			}
		}
		return fmt.Errorf("couldn't revoke key %s of %s: %w", k.KeyID, k.Department, ErrUnknownKey)
	}
	return nil
}
