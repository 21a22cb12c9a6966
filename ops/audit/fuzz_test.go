package audit

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/crossledger/crossledger/schema"
)

// FuzzDecodeState: a state file read back never panics, and one that
// decodes holds together (decodeState checks it).
func FuzzDecodeState(f *testing.F) {
	lg := newTestLedger(f, f.TempDir())
	lg.fill(300, map[string]map[schema.Kind]uint64{})
	_, url := serve(f, lg.log.Handler())
	dir := f.TempDir()
	if _, err := Run(context.Background(), config(f, url, lg.v, dir)); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ld, err := decodeState(b, lg.v)
		if err != nil {
			return
		}
		if ld.tree.size() != ld.st.Size || (ld.latest == nil) != (ld.st.Latest == nil) {
			t.Fatalf("decoded state does not hold together")
		}
	})
}

// FuzzEntry: any bytes go through the four steps of the ledger rules
// without panicking, and either pass or come out with problems at their
// index.
func FuzzEntry(f *testing.F) {
	lg := newTestLedger(f, f.TempDir())
	g, _ := schema.DemoGenesis()
	f.Add(lg.change("tax"))
	f.Add(lg.grant("tax", "civil-affairs"))
	f.Add(lg.access())
	f.Add([]byte(`{"v":1}`))
	led, err := newLedger(g, schema.DemoCatalog, "gateway", nil, 0, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		e := &entry{index: 3, raw: raw}
		prepare(e)
		led.resolve(e)
		verifyBatch([]*entry{e})
		for _, p := range led.finish(e) {
			if p.Index == nil || *p.Index != 3 || p.Code == "" || p.Reason == "" {
				t.Fatalf("problem %+v", p)
			}
		}
	})
}
