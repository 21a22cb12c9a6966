package witness_test

import (
	"context"
	"testing"
	"time"

	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/merkle/witness"
)

// BenchmarkRound measures one publication round of a witnessed log with 3
// local witnesses (2 of 3 quorum): cosign (parallel requests, each
// witness verifying, signing and persisting) and publish (persisting the
// cosigned checkpoint). It reports the two parts separately.
func BenchmarkRound(b *testing.B) {
	skey, vkey, err := merkle.GenerateKey(origin)
	if err != nil {
		b.Fatal(err)
	}
	l, err := merkle.Open(context.Background(), b.TempDir(), merkle.Options{SignerKey: skey, Witnessed: true})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ws := newWitnesses(b, 3, vkey)
	p, err := witness.ParsePolicy([]byte(policyFor(ws, 2)))
	if err != nil {
		b.Fatal(err)
	}
	c, err := witness.NewCosigner(p, nil, 5*time.Second, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var cosign, publish time.Duration
	b.ResetTimer()
	for range b.N {
		es := [][]byte{[]byte("a"), []byte("b")}
		if _, err := l.Append(ctx, es, nil); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		cp, _, err := c.Cosign(ctx, l.Head(), l.Size(), l)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := l.Publish(ctx, cp); err != nil {
			b.Fatal(err)
		}
		cosign += t1.Sub(t0)
		publish += time.Since(t1)
	}
	b.ReportMetric(float64(cosign.Microseconds())/float64(b.N)/1000, "cosign-ms/op")
	b.ReportMetric(float64(publish.Microseconds())/float64(b.N)/1000, "publish-ms/op")
}
