package adapters

import (
	"errors"
	"strings"
	"testing"

	"github.com/crossledger/crossledger/schema"
)

// TestSettle covers every branch of settle: what each kind of receipt
// does to the pending row found for it, and that the proof is checked
// only when the answer depends on it.
func TestSettle(t *testing.T) {
	row := &pendingRow{seq: 7, digest: "sha256:ours", envelope: []byte("envelope")}
	badProof := errors.New("proof does not verify")
	for _, tc := range []struct {
		name      string
		receipt   schema.Receipt
		row       *pendingRow
		settled   bool
		verifyErr error
		want      decision
		verifies  bool // verify must be called
	}{
		{name: "no pending row (another sender's, already settled, unknown seq)",
			receipt: schema.Receipt{Seq: 9, Status: schema.StatusAccepted, EnvelopeDigest: "sha256:ours", Leaf: 3},
			want:    decision{verdict: verdictNotPending, seq: 9}},
		{name: "no pending row for an unreadable envelope's digest",
			receipt: schema.Receipt{Status: schema.StatusRejected, EnvelopeDigest: "sha256:unknown"},
			want:    decision{verdict: verdictNotPending}},
		{name: "settled earlier in the batch",
			receipt: schema.Receipt{Seq: 7, Status: schema.StatusDuplicate, EnvelopeDigest: "sha256:ours", Leaf: 3},
			row:     row, settled: true,
			want: decision{verdict: verdictRepeat, seq: 7}},
		{name: "our seq, another envelope (equivocation or forgery)",
			receipt: schema.Receipt{Seq: 7, Status: schema.StatusAccepted, EnvelopeDigest: "sha256:theirs", Leaf: 3},
			row:     row,
			want:    decision{verdict: verdictOtherEnvelope, seq: 7}},
		{name: "a rejection of another envelope with our seq",
			receipt: schema.Receipt{Seq: 7, Status: schema.StatusRejected, Reason: schema.ReasonEquivocation, EnvelopeDigest: "sha256:theirs"},
			row:     row,
			want:    decision{verdict: verdictOtherEnvelope, seq: 7}},
		{name: "rejected",
			receipt: schema.Receipt{Seq: 7, Status: schema.StatusRejected, Reason: schema.ReasonUnknownKey, Detail: "no such key", EnvelopeDigest: "sha256:ours"},
			row:     row,
			want:    decision{verdict: verdictRejected, seq: 7, reason: schema.ReasonUnknownKey, detail: "no such key"}},
		{name: "rejected, matched by digest (unreadable envelope)",
			receipt: schema.Receipt{Status: schema.StatusRejected, Reason: schema.ReasonMalformed, Detail: "bad JSON", EnvelopeDigest: "sha256:ours"},
			row:     row,
			want:    decision{verdict: verdictRejected, seq: 7, reason: schema.ReasonMalformed, detail: "bad JSON"}},
		{name: "accepted, proof verifies",
			receipt: schema.Receipt{Seq: 7, Status: schema.StatusAccepted, EnvelopeDigest: "sha256:ours", Leaf: 41},
			row:     row, verifies: true,
			want: decision{verdict: verdictAccepted, seq: 7, leaf: 41}},
		{name: "duplicate, proof verifies",
			receipt: schema.Receipt{Seq: 7, Status: schema.StatusDuplicate, EnvelopeDigest: "sha256:ours", Leaf: 40},
			row:     row, verifies: true,
			want: decision{verdict: verdictAccepted, seq: 7, leaf: 40}},
		{name: "accepted, proof does not verify",
			receipt: schema.Receipt{Seq: 7, Status: schema.StatusAccepted, EnvelopeDigest: "sha256:ours", Leaf: 41},
			row:     row, verifies: true, verifyErr: badProof,
			want: decision{verdict: verdictUnverified, seq: 7, err: badProof}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			verify := func(r *schema.Receipt, envelope []byte) error {
				called = true
				if r != &tc.receipt || string(envelope) != string(tc.row.envelope) {
					t.Errorf("verify(%+v, %q): want the receipt and the row's envelope", r, envelope)
				}
				return tc.verifyErr
			}
			got := settle(&tc.receipt, tc.row, tc.settled, verify)
			if got != tc.want {
				t.Errorf("settle = %+v, want %+v", got, tc.want)
			}
			if called != tc.verifies {
				t.Errorf("verify called: %v, want %v", called, tc.verifies)
			}
			if want := tc.want.verdict == verdictAccepted || tc.want.verdict == verdictRejected; got.settles() != want {
				t.Errorf("settles() = %v, want %v", got.settles(), want)
			}
		})
	}
}

// TestVerifyReceiptRefusesWithoutProof: the checks VerifyReceipt makes
// before it looks at the proof.
func TestVerifyReceiptRefusesWithoutProof(t *testing.T) {
	env := []byte(`{"v":1}`)
	for _, tc := range []struct {
		name string
		r    schema.Receipt
		want string
	}{
		{"rejection", schema.Receipt{Status: schema.StatusRejected, EnvelopeDigest: schema.EnvelopeDigest(env)}, "carries no proof"},
		{"other digest", schema.Receipt{Status: schema.StatusAccepted, EnvelopeDigest: "sha256:other"}, "envelope digest"},
		{"no proof", schema.Receipt{Status: schema.StatusAccepted, EnvelopeDigest: schema.EnvelopeDigest(env)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyReceipt(&tc.r, env, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("VerifyReceipt: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
