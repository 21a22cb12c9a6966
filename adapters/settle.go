package adapters

import (
	"github.com/crossledger/crossledger/schema"
)

// verdict is what one receipt does to the outbox.
type verdict int

const (
	// verdictNotPending: no pending row answers to the receipt (another
	// sender's seq, a row settled by an earlier batch, a seq or digest this
	// outbox never had). Nothing changes.
	verdictNotPending verdict = iota
	// verdictRepeat: an earlier receipt of the same batch settled the row.
	// Nothing changes.
	verdictRepeat
	// verdictOtherEnvelope: the receipt names our seq but another
	// envelope's digest (an equivocating or forged sender, or a
	// corrupted receipt). Logged; the row stays pending.
	verdictOtherEnvelope
	// verdictUnverified: the receipt claims our envelope is logged but its
	// proof does not verify (or it carries none). Logged; the row stays
	// pending and is re-sent.
	verdictUnverified
	// verdictRejected: ingest refused our envelope. The row is retired as
	// rejected with the receipt's reason.
	verdictRejected
	// verdictAccepted: the receipt's proof verifies: our envelope is in the
	// log at the receipt's leaf. The row is retired as done.
	verdictAccepted
)

// decision is [settle]'s answer for one receipt.
type decision struct {
	verdict verdict
	seq     uint64 // the row's, when there is one
	leaf    uint64 // verdictAccepted
	reason  string // verdictRejected
	detail  string // verdictRejected
	err     error  // verdictUnverified: why
}

// settles reports whether d changes the row.
func (d decision) settles() bool {
	return d.verdict == verdictAccepted || d.verdict == verdictRejected
}

// settle decides what receipt r does to row, the pending outbox row found
// for it (by seq, or by digest when r has none; nil: none found). settled
// reports that an earlier receipt of the same batch already settled row.
// verify checks r's proof for row's envelope ([VerifyReceipt] with the log
// key); settle calls it only when the answer depends on it (not for a
// rejection, which carries no proof, nor for a receipt of another
// envelope), since it costs a signature check.
func settle(r *schema.Receipt, row *pendingRow, settled bool, verify func(r *schema.Receipt, envelope []byte) error) decision {
	if row == nil {
		return decision{verdict: verdictNotPending, seq: r.Seq}
	}
	d := decision{seq: row.seq}
	switch {
	case settled:
		d.verdict = verdictRepeat
	case r.EnvelopeDigest != row.digest:
		d.verdict = verdictOtherEnvelope
	case r.Status == schema.StatusRejected:
		d.verdict, d.reason, d.detail = verdictRejected, r.Reason, r.Detail
	default:
		if d.err = verify(r, row.envelope); d.err != nil {
			d.verdict = verdictUnverified
		} else {
			d.verdict, d.leaf = verdictAccepted, r.Leaf
		}
	}
	return d
}
