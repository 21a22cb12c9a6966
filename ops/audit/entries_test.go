package audit

import (
	"testing"

	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/schema"
)

func TestSeqRule(t *testing.T) {
	for _, tc := range []struct {
		last, seq, next uint64
		code            string
	}{
		{0, 1, 1, ""},
		{4, 5, 5, ""},
		{0, 2, 2, CodeSeqGap},
		{4, 9, 9, CodeSeqGap},
		{4, 4, 4, CodeSeqReplay},
		{4, 1, 4, CodeSeqReplay},
	} {
		next, p := seqRule(tc.last, tc.seq)
		code := ""
		if p != nil {
			code = p.Code
		}
		if next != tc.next || code != tc.code {
			t.Errorf("seqRule(%d, %d) = %d, %q; want %d, %q", tc.last, tc.seq, next, code, tc.next, tc.code)
		}
	}
}

func TestCompareCheckpoints(t *testing.T) {
	cp := func(size uint64, root byte) *merkle.Checkpoint {
		return &merkle.Checkpoint{Origin: "o", Size: size, Hash: []byte{root}}
	}
	for _, tc := range []struct {
		name   string
		latest *merkle.Checkpoint
		served *merkle.Checkpoint
		want   verdict
	}{
		{"first", nil, cp(5, 1), verdictGrown},
		{"grown", cp(5, 1), cp(6, 2), verdictGrown},
		{"same", cp(5, 1), cp(5, 1), verdictSame},
		{"rollback", cp(5, 1), cp(4, 1), verdictRollback},
		{"rollback to empty", cp(5, 1), cp(0, 1), verdictRollback},
		{"fork", cp(5, 1), cp(5, 2), verdictFork},
	} {
		if got := compareCheckpoints(tc.latest, *tc.served); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestLedgerRules drives the four steps over hand-made entries.
func TestLedgerRules(t *testing.T) {
	lg := newTestLedger(t, t.TempDir())
	g, _ := schema.DemoGenesis()
	led, err := newLedger(g, schema.DemoCatalog, "gateway", nil, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		raw   func() []byte
		codes []string
	}{
		{"change", func() []byte { return lg.change("tax") }, nil},
		{"grant by owner", func() []byte { return lg.grant("civil-affairs", "civil-affairs") }, nil},
		{"grant by another", func() []byte { return lg.grant("tax", "civil-affairs") }, []string{CodeWrongOwner}},
		{"revoke by another", func() []byte {
			return lg.sign(&schema.Envelope{Kind: schema.KindRevoke, Department: "tax", Revoke: &schema.Revoke{Consumer: "tax", Purpose: "p", Type: "marriage"}}, schema.DemoKey("tax"))
		}, []string{CodeWrongOwner}},
		{"access by gateway", lg.access, nil},
		{"gateway signs a grant", func() []byte { return lg.grant("gateway", "civil-affairs") }, []string{CodeNotGateway, CodeWrongOwner}},
		{"a seq again", func() []byte {
			lg.seq["tax"]--
			return lg.change("tax")
		}, []string{CodeSeqReplay}},
		{"not JSON", func() []byte { return []byte("{") }, []string{CodeMalformed}},
		{"signed by an unknown key", func() []byte {
			ch := mustChange(t, lg, "tax")
			return lg.sign(&schema.Envelope{Kind: schema.KindRecordChange, Department: "tax", Change: ch}, schema.DemoKey("nobody"))
		}, []string{CodeUnknownKey}},
	} {
		e := &entry{index: 7, raw: tc.raw()}
		prepare(e)
		led.resolve(e)
		verifyBatch([]*entry{e})
		var got []string
		for _, p := range led.finish(e) {
			got = append(got, p.Code)
			if p.Index == nil || *p.Index != 7 {
				t.Errorf("%s: problem without its index: %s", tc.name, p)
			}
		}
		if len(got) != len(tc.codes) {
			t.Errorf("%s: problems %v, want %v", tc.name, got, tc.codes)
			continue
		}
		for i := range got {
			if got[i] != tc.codes[i] {
				t.Errorf("%s: problems %v, want %v", tc.name, got, tc.codes)
			}
		}
	}
}

func mustChange(t *testing.T, lg *testLedger, dept string) *schema.RecordChange {
	e, err := schema.DecodeEnvelope(lg.change(dept))
	if err != nil {
		t.Fatal(err)
	}
	return e.Change
}
