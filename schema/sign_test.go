package schema

import (
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/oasisprotocol/curve25519-voi/curve"
	"github.com/oasisprotocol/curve25519-voi/curve/scalar"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

func TestSignVerify(t *testing.T) {
	envs, _ := sampleEnvelopes(t)
	env := envs["grant"]
	pub := DemoKey("civil-affairs").Public().(ed25519.PublicKey)
	if err := Verify(env, pub); err != nil {
		t.Fatal(err)
	}
	other := DemoKey("tax").Public().(ed25519.PublicKey)
	var se *SignatureError
	if err := Verify(env, other); !errors.Is(err, ErrBadSignature) || !errors.As(err, &se) || se.Department != "civil-affairs" || se.Seq != 3 {
		t.Errorf("wrong key: %v", err)
	}
	e2 := *env
	e2.Seq++
	if err := Verify(&e2, pub); !errors.Is(err, ErrBadSignature) {
		t.Errorf("changed seq: %v", err)
	}
	g, _ := DemoGenesis()
	ring, _ := NewKeyRing(g)
	e3 := *env
	e3.KeyID = "0123456789abcdef"
	if err := VerifyEnvelope(&e3, ring, 5); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("unknown key id: %v", err)
	}
	golden(t, "signature.txt", []byte(fmt.Sprintf("key_id %s\npublic_key %s\nsig %s\n",
		env.KeyID, base64.RawURLEncoding.EncodeToString(pub), env.Sig)))
}

func TestKeyRing(t *testing.T) {
	g, _ := DemoGenesis()
	ring, err := NewKeyRing(g)
	if err != nil {
		t.Fatal(err)
	}
	oldPub := DemoKey("civil-affairs").Public().(ed25519.PublicKey)
	newPriv := DemoKey("civil-affairs-2")
	newPub := newPriv.Public().(ed25519.PublicKey)
	rotate := &Envelope{V: 1, Kind: KindDepartmentKey, Department: GovernanceID, Seq: 1, Time: "2024-03-01T00:00:00Z",
		Key: &DepartmentKey{Department: "civil-affairs", Action: KeyRotate, KeyID: KeyID(newPub), PublicKey: base64.RawURLEncoding.EncodeToString(newPub)}}
	if err := Sign(rotate, DemoKey(GovernanceID)); err != nil {
		t.Fatal(err)
	}
	if err := VerifyEnvelope(rotate, ring, 100); err != nil {
		t.Fatal(err)
	}
	if err := ring.Apply(rotate, 100); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		pub   ed25519.PublicKey
		index uint64
		ok    bool
	}{{oldPub, 100, true}, {oldPub, 101, false}, {newPub, 100, false}, {newPub, 101, true}} {
		_, err := ring.ResolveKey("civil-affairs", KeyID(c.pub), c.index)
		if (err == nil) != c.ok || err != nil && !errors.Is(err, ErrUnknownKey) {
			t.Errorf("ResolveKey(%s, %d) = %v, want ok=%v", KeyID(c.pub), c.index, err, c.ok)
		}
	}
	// A department may revoke its own key, but not register one.
	revoke := &Envelope{V: 1, Kind: KindDepartmentKey, Department: "civil-affairs", Seq: 9, Time: "2024-03-01T00:00:00Z",
		Key: &DepartmentKey{Department: "civil-affairs", Action: KeyRevoke, KeyID: KeyID(newPub)}}
	if err := ring.Apply(revoke, 200); err != nil {
		t.Fatal(err)
	}
	if _, err := ring.ResolveKey("civil-affairs", KeyID(newPub), 201); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("revoked key still resolves: %v", err)
	}
	register := *rotate
	register.Department = "tax"
	register.Key = &DepartmentKey{Department: "tax", Action: KeyRegister, KeyID: KeyID(oldPub), PublicKey: base64.RawURLEncoding.EncodeToString(oldPub)}
	if err := ring.Apply(&register, 300); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("self-registration: %v", err)
	}
}

// adversarialItems returns signatures that separate verification rules:
// valid, wrong message, small-order and torsioned A and R, non-canonical
// S, R and A. wantCofactoredOnly counts items cofactored verification
// accepts and crypto/ed25519 rejects, so the test cannot pass vacuously.
func adversarialItems(t testing.TB, n int) []BatchItem {
	t.Helper()
	h := func(s string) []byte { b, _ := hex.DecodeString(s); return b }
	t8bytes := h("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
	identity := h("0100000000000000000000000000000000000000000000000000000000000000")
	nonCanonIdentity := h("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
	var t8 curve.EdwardsPoint
	c, _ := curve.NewCompressedEdwardsYFromBytes(t8bytes)
	if _, err := t8.SetCompressedY(c); err != nil {
		t.Fatal(err)
	}
	compress := func(p *curve.EdwardsPoint) []byte {
		var c curve.CompressedEdwardsY
		c.SetEdwardsPoint(p)
		return append([]byte(nil), c[:]...)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	randScalar := func() *scalar.Scalar {
		var b [64]byte
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		s, _ := new(scalar.Scalar).SetBytesModOrderWide(b[:])
		return s
	}
	// forge signs msg with secret scalar a for public bytes A, nonce point
	// R = [r]B (+ T8 if torsionR).
	forge := func(a *scalar.Scalar, A []byte, torsionR bool, msg []byte) []byte {
		r := randScalar()
		var R curve.EdwardsPoint
		R.MulBasepoint(curve.ED25519_BASEPOINT_TABLE, r)
		if torsionR {
			R.Add(&R, &t8)
		}
		Rb := compress(&R)
		d := sha512.New()
		d.Write(Rb)
		d.Write(A)
		d.Write(msg)
		k, _ := new(scalar.Scalar).SetBytesModOrderWide(d.Sum(nil))
		var S scalar.Scalar
		S.Mul(k, a)
		S.Add(&S, r)
		sig := make([]byte, 64)
		copy(sig, Rb)
		S.ToBytes(sig[32:])
		return sig
	}
	var items []BatchItem
	for i := 0; len(items) < n; i++ {
		msg := []byte(fmt.Sprintf("entry %d", i))
		priv := DemoKey(fmt.Sprintf("k%d", i%5))
		pub := priv.Public().(ed25519.PublicKey)
		a := randScalar()
		var Ap curve.EdwardsPoint
		Ap.MulBasepoint(curve.ED25519_BASEPOINT_TABLE, a)
		Ab := compress(&Ap)
		var At curve.EdwardsPoint
		At.Add(&Ap, &t8)
		Atb := compress(&At)
		switch i % 12 {
		case 0, 1, 2, 3:
			items = append(items, BatchItem{pub, msg, ed25519.Sign(priv, msg)})
		case 4:
			items = append(items, BatchItem{pub, []byte("other"), ed25519.Sign(priv, msg)})
		case 5: // R with a torsion component: cofactored accepts, stdlib rejects.
			items = append(items, BatchItem{Ab, msg, forge(a, Ab, true, msg)})
		case 6: // A with a torsion component, honest R: stdlib accepts iff 8 | k.
			items = append(items, BatchItem{Atb, msg, forge(a, Atb, false, msg)})
		case 7: // small-order A and R, S = 0.
			sig := append(append([]byte(nil), identity...), make([]byte, 32)...)
			A := identity
			if i%24 == 7 {
				A = t8bytes
			}
			items = append(items, BatchItem{A, msg, sig})
		case 8: // non-canonical S = S + L.
			sig := ed25519.Sign(priv, msg)
			var S, L [32]byte
			copy(S[:], sig[32:])
			scalar.BASEPOINT_ORDER.ToBytes(L[:])
			var carry uint16
			for j := 0; j < 32; j++ {
				v := uint16(S[j]) + uint16(L[j]) + carry
				S[j], carry = byte(v), v>>8
			}
			copy(sig[32:], S[:])
			items = append(items, BatchItem{pub, msg, sig})
		case 9: // non-canonical R (identity), identity A, S = 0.
			sig := append(append([]byte(nil), nonCanonIdentity...), make([]byte, 32)...)
			items = append(items, BatchItem{identity, msg, sig})
		case 10: // non-canonical A (identity), identity R, S = 0.
			sig := append(append([]byte(nil), identity...), make([]byte, 32)...)
			items = append(items, BatchItem{nonCanonIdentity, msg, sig})
		case 11: // short key and garbage key.
			items = append(items, BatchItem{pub[:31], msg, ed25519.Sign(priv, msg)})
		}
	}
	return items
}

func stdlibVerify(it BatchItem) bool {
	return len(it.PublicKey) == ed25519.PublicKeySize && ed25519.Verify(it.PublicKey, it.Message, it.Signature)
}

func TestVerifyBatchMatchesStdlib(t *testing.T) {
	items := adversarialItems(t, 600)
	differ := 0
	for _, it := range items {
		if len(it.PublicKey) == 32 && voi.VerifyWithOptions(voi.PublicKey(it.PublicKey), it.Message, it.Signature,
			&voi.Options{Verify: voi.VerifyOptionsZIP_215}) && !stdlibVerify(it) {
			differ++
		}
	}
	if differ == 0 {
		t.Fatal("the adversarial set has no item where cofactored and cofactorless verification differ")
	}
	check := func(name string, items []BatchItem, f func([]BatchItem) []error) {
		errs := f(items)
		for i, it := range items {
			if want := stdlibVerify(it); (errs[i] == nil) != want {
				t.Fatalf("%s: item %d: got %v, crypto/ed25519 says valid=%v", name, i, errs[i], want)
			}
			if errs[i] != nil && !errors.Is(errs[i], ErrBadSignature) {
				t.Fatalf("%s: item %d: error %v", name, i, errs[i])
			}
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 20; round++ {
		rng.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
		sub := items[:1+rng.IntN(len(items))]
		check("VerifyBatch", sub, VerifyBatch)
		check("verifyBatchEquation", sub, verifyBatchEquation)
	}
	// All-adversarial batches that the cofactored equation accepts.
	var sneaky []BatchItem
	for _, it := range items {
		if len(it.PublicKey) == 32 && !stdlibVerify(it) && voi.VerifyWithOptions(voi.PublicKey(it.PublicKey), it.Message, it.Signature, &voi.Options{Verify: voi.VerifyOptionsFIPS_186_5}) {
			sneaky = append(sneaky, it)
		}
	}
	good := adversarialItems(t, 4)
	check("sneaky", append(sneaky, good...), verifyBatchEquation)
	check("sneaky", append(sneaky, good...), VerifyBatch)
	if len(VerifyBatch(nil)) != 0 {
		t.Error("empty batch")
	}
}

func TestVerifyEnvelopes(t *testing.T) {
	envs, _ := sampleEnvelopes(t)
	g, _ := DemoGenesis()
	ring, _ := NewKeyRing(g)
	var list []*Envelope
	for _, name := range []string{"change", "grant", "access", "key", "schema"} {
		list = append(list, envs[name])
	}
	bad := *envs["revoke"]
	bad.Seq = 99
	list = append(list, &bad)
	errs := VerifyEnvelopes(list, ring, make([]uint64, len(list)))
	for i, err := range errs[:5] {
		if err != nil {
			t.Errorf("%d: %v", i, err)
		}
	}
	var se *SignatureError
	if !errors.As(errs[5], &se) || se.Seq != 99 || !errors.Is(errs[5], ErrBadSignature) {
		t.Errorf("tampered: %v", errs[5])
	}
}

func benchItems(b *testing.B, n int) []BatchItem {
	priv := DemoKey("civil-affairs")
	pub := priv.Public().(ed25519.PublicKey)
	envs, _ := sampleEnvelopes(b)
	msg, _ := envs["change"].SigningBytes()
	items := make([]BatchItem, n)
	for i := range items {
		m := append([]byte(fmt.Sprintf("%d", i)), msg...)
		items[i] = BatchItem{pub, m, ed25519.Sign(priv, m)}
	}
	return items
}

func BenchmarkSign(b *testing.B) {
	envs, _ := sampleEnvelopes(b)
	env := *envs["change"]
	priv := DemoKey("civil-affairs")
	for b.Loop() {
		if err := Sign(&env, priv); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifySingle is the baseline: crypto/ed25519, one signature per op.
func BenchmarkVerifySingle(b *testing.B) {
	items := benchItems(b, 256)
	i := 0
	for b.Loop() {
		it := items[i%256]
		if !ed25519.Verify(it.PublicKey, it.Message, it.Signature) {
			b.Fatal("invalid")
		}
		i++
	}
}

func BenchmarkVerifyEnvelope(b *testing.B) {
	envs, _ := sampleEnvelopes(b)
	pub := DemoKey("civil-affairs").Public().(ed25519.PublicKey)
	for b.Loop() {
		if err := Verify(envs["change"], pub); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyBatch256 reports ns per batch of 256; divide by 256.
func BenchmarkVerifyBatch256(b *testing.B) {
	items := benchItems(b, 256)
	for b.Loop() {
		for _, err := range VerifyBatch(items) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkVerifyBatchEquation256(b *testing.B) {
	items := benchItems(b, 256)
	for b.Loop() {
		for _, err := range verifyBatchEquation(items) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}
