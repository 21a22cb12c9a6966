package adapters_test

import (
	"context"
	"errors"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/crossledger/crossledger/adapters"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/merkle/witness"
	"github.com/crossledger/crossledger/schema"
)

// TestCheckReceiptPolicy: a receipt whose checkpoint a policy's quorum
// cosigned passes; one that lacks a required witness does not.
func TestCheckReceiptPolicy(t *testing.T) {
	ctx := context.Background()
	skey, _, err := merkle.GenerateKey("example.com/policy-test")
	if err != nil {
		t.Fatal(err)
	}
	l, err := merkle.Open(ctx, t.TempDir(), merkle.Options{SignerKey: skey, Witnessed: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Append(ctx, [][]byte{[]byte("e0"), []byte("e1")}, nil); err != nil {
		t.Fatal(err)
	}
	wkey, wvkey, _ := witness.GenerateKey("tax.example/witness")
	_, otherVKey, _ := witness.GenerateKey("civil-affairs.example/witness")
	ws, err := witness.NewSigner(wkey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(l.Head(), note.VerifierList(l.Verifier()))
	if err != nil {
		t.Fatal(err)
	}
	signed, err := note.Sign(&note.Note{Text: n.Text}, ws)
	if err != nil {
		t.Fatal(err)
	}
	cosigned, err := witness.Merge(l.Head(), signed[len(n.Text)+1:])
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Publish(ctx, cosigned); err != nil {
		t.Fatal(err)
	}
	p, err := l.ProofBundle(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	r := &schema.Receipt{Status: schema.StatusAccepted, Leaf: 1, Proof: string(p.Encode())}

	one, _ := witness.ParsePolicy([]byte("witness T " + wvkey + "\nquorum T\n"))
	names, err := adapters.CheckReceiptPolicy(r, one, l.Verifier())
	if err != nil || len(names) != 1 || names[0] != "T" {
		t.Fatalf("cosigned receipt: %v %v", names, err)
	}
	both, _ := witness.ParsePolicy([]byte("witness T " + wvkey + "\nwitness C " + otherVKey + "\ngroup g all T C\nquorum g\n"))
	if _, err := adapters.CheckReceiptPolicy(r, both, l.Verifier()); !errors.Is(err, witness.ErrQuorum) {
		t.Fatalf("receipt lacking a required witness: %v", err)
	}
}
