package adapters

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"

	"golang.org/x/mod/sumdb/note"

	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/merkle/witness"
	"github.com/crossledger/crossledger/schema"
)

// VerifyReceipt checks an accepted or duplicate receipt for envelope: the
// digest names envelope, and the tlog-proof proves envelope at r.Leaf
// under a checkpoint signed by the log key v.
func VerifyReceipt(r *schema.Receipt, envelope []byte, v note.Verifier) error {
	if r.Status != schema.StatusAccepted && r.Status != schema.StatusDuplicate {
		return fmt.Errorf("adapters: receipt status %q carries no proof", r.Status)
	}
	if got := schema.EnvelopeDigest(envelope); r.EnvelopeDigest != got {
		return fmt.Errorf("adapters: receipt digest %s, envelope digest %s", r.EnvelopeDigest, got)
	}
	p, err := merkle.DecodeProof([]byte(r.Proof))
	if err != nil {
		return err
	}
	if p.Index != r.Leaf {
		return fmt.Errorf("adapters: receipt leaf %d, proof index %d", r.Leaf, p.Index)
	}
	if _, err := p.Verify(envelope, v); err != nil {
		return err
	}
	return nil
}

// CheckReceiptPolicy checks that the checkpoint of r's proof carries
// cosignatures meeting policy's quorum (r must have passed
// [VerifyReceipt]); it returns the witnesses that vouched.
func CheckReceiptPolicy(r *schema.Receipt, policy *witness.Policy, v note.Verifier) ([]string, error) {
	p, err := merkle.DecodeProof([]byte(r.Proof))
	if err != nil {
		return nil, err
	}
	vd, err := policy.Check(p.Checkpoint, v)
	if err != nil {
		return nil, fmt.Errorf("adapters: receipt's checkpoint: %w", err)
	}
	return vd.Witnesses, nil
}

// policyCache remembers checkpoints that met the witness policy: receipts
// of a batch share a few checkpoints, and each check costs one Ed25519
// verification per cosignature.
type policyCache struct {
	mu sync.Mutex
	ok map[[sha256.Size]byte]bool
}

// checkPolicy applies cfg.WitnessPolicy (if any) to r.
func (p *Publisher) checkPolicy(r *schema.Receipt) error {
	if p.cfg.WitnessPolicy == nil {
		return nil
	}
	proof, err := merkle.DecodeProof([]byte(r.Proof))
	if err != nil {
		return err
	}
	k := sha256.Sum256(proof.Checkpoint)
	p.policyOK.mu.Lock()
	hit := p.policyOK.ok[k]
	p.policyOK.mu.Unlock()
	if hit {
		return nil
	}
	if _, err := CheckReceiptPolicy(r, p.cfg.WitnessPolicy, p.verifier); err != nil {
		return err
	}
	p.policyOK.mu.Lock()
	if p.policyOK.ok == nil || len(p.policyOK.ok) >= 64 {
		p.policyOK.ok = map[[sha256.Size]byte]bool{}
	}
	p.policyOK.ok[k] = true
	p.policyOK.mu.Unlock()
	return nil
}

// cachingVerifier is a note.Verifier that remembers the signatures it
// accepted: consecutive receipts mostly carry the same checkpoint, and an
// Ed25519 verify per receipt would cost more than the rest of settling it.
// Only successes are cached, keyed by a hash of message and signature.
type cachingVerifier struct {
	note.Verifier
	mu sync.Mutex
	ok map[[sha256.Size]byte]bool
}

func (v *cachingVerifier) Verify(msg, sig []byte) bool {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(msg)))
	h.Write(n[:])
	h.Write(msg)
	h.Write(sig)
	var k [sha256.Size]byte
	h.Sum(k[:0])
	v.mu.Lock()
	hit := v.ok[k]
	v.mu.Unlock()
	if hit {
		return true
	}
	if !v.Verifier.Verify(msg, sig) {
		return false
	}
	v.mu.Lock()
	if v.ok == nil || len(v.ok) >= 64 {
		v.ok = map[[sha256.Size]byte]bool{}
	}
	v.ok[k] = true
	v.mu.Unlock()
	return true
}
