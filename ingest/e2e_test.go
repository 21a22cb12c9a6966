package ingest_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/crossledger/crossledger/adapters"
	"github.com/crossledger/crossledger/ingest"
	"github.com/crossledger/crossledger/ingest/ingesttest"
	ktopics "github.com/crossledger/crossledger/internal/topics"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
	"github.com/crossledger/crossledger/store/sqlite"
)

// broker returns the address of a real Kafka-protocol broker.
func broker(t *testing.T) string { return ingesttest.Broker(t) }

// values makes valid, distinct values for every field of rt from i.
func values(t *testing.T, rt *schema.RecordType, i int) map[string]string {
	return ingesttest.Values(rt, i)
}

type ledger struct {
	addr     string
	log      *merkle.Log
	payloads *ingest.Payloads
	catalog  *schema.Catalog
	receipts <-chan *schema.Receipt
	tc       ingest.Config // topic names, unique to the test
}

// startLedger runs ingest over a fresh log and watches every receipt.
func startLedger(t *testing.T, ctx context.Context) *ledger {
	s := ingesttest.Start(t, ctx, ingesttest.Options{Config: ingest.Config{BatchSize: 500, BatchAge: 5 * time.Millisecond}})
	return &ledger{addr: s.Addr, log: s.Log, payloads: s.Payloads, catalog: s.Catalog, tc: s.Config,
		receipts: ingesttest.WatchReceipts(t, ctx, s.Addr, s.Config.ReceiptsTopic, nil, 100000)}
}

func TestEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lg := startLedger(t, ctx)
	const perDept = 334
	depts := lg.catalog.Departments()

	var wg sync.WaitGroup
	clients := map[string]*adapters.Client{}
	for _, d := range depts {
		c, err := adapters.Open(ctx, adapters.Config{
			Department: d, Key: schema.DemoKey(d), RecordSecret: schema.DemoSecret(d), Catalog: lg.catalog,
			LogVerifier: lg.log.Verifier(), Brokers: []string{lg.addr}, ChangesTopic: lg.tc.ChangesTopic, ReceiptsTopic: lg.tc.ReceiptsTopic,
			OutboxPath: filepath.Join(t.TempDir(), d+".db"), ResendAfter: 3 * time.Second, MaxResendAfter: 10 * time.Second,
			OnRejected: func(r adapters.Rejection) { t.Errorf("%s: unexpected rejection %+v", d, r) },
		})
		if err != nil {
			t.Fatal(err)
		}
		clients[d] = c
		rctx, stop := context.WithCancel(ctx)
		wg.Add(1)
		go func() { defer wg.Done(); c.Run(rctx) }()
		t.Cleanup(func() { stop(); wg.Wait(); c.Close() })
	}
	var pub sync.WaitGroup
	for _, d := range depts {
		pub.Go(func() {
			dep, _ := lg.catalog.Department(d)
			rt := &dep.Types[0]
			for i := range perDept {
				if _, err := clients[d].Publish(ctx, rt.Name, schema.OpUpsert, values(t, rt, i)); err != nil {
					t.Errorf("%s publish %d: %v", d, i, err)
					return
				}
			}
		})
	}
	pub.Wait()
	total := uint64(perDept * len(depts))
	ingesttest.WaitDelivered(t, ctx, clients)
	if got := lg.log.Size(); got != total {
		t.Fatalf("log size %d, want %d", got, total)
	}
	for _, d := range depts {
		st, err := clients[d].Status(ctx, perDept)
		if err != nil || st.State != adapters.StateDone {
			t.Fatalf("%s status of last seq = %+v, %v", d, st, err)
		}
	}

	// Projection into SQLite, concurrently with nothing else appending.
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "proj.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pj := &ingest.Projector{Log: lg.log, Payloads: lg.payloads, Store: st, Catalog: lg.catalog, LedgerSecret: []byte("ledger secret for tests"), BatchSize: 700}
	projectAll(t, ctx, pj, st, total)
	if got := pj.ProjectedSize(); got != total {
		t.Fatalf("ProjectedSize %d, want %d", got, total)
	}
	rt, _ := lg.catalog.RecordType("civil-affairs", "marriage", 0)
	v := values(t, rt, 7)
	rec, err := st.Current(ctx, "civil-affairs", "marriage", []string{v["marriage_id"]})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := rec.Value("spouse_a_name"); got.Text != v["spouse_a_name"] {
		t.Fatalf("projected spouse_a_name %q, want %q", got.Text, v["spouse_a_name"])
	}
	ref, err := st.EntryBySeq(ctx, "tax", 5)
	if err != nil {
		t.Fatal(err)
	}

	// Redelivery of a logged message: the original receipt, no new leaf.
	raw, err := lg.log.Entry(ctx, ref.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := lg.payloads.Get(ref.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	drain(lg.receipts)
	w := ktopics.NewWriter([]string{lg.addr}, "")
	defer w.Close()
	send := func(topic, key string, value []byte) {
		t.Helper()
		if err := w.WriteMessages(ctx, kafka.Message{Topic: topic, Key: []byte(key), Value: value}); err != nil {
			t.Fatal(err)
		}
	}
	dup, _ := (&schema.Message{Envelope: raw, Disclosures: ds}).Encode()
	send(lg.tc.ChangesTopic, "tax", dup)
	r := receiptFor(t, ctx, lg.receipts, schema.EnvelopeDigest(raw))
	if r.Status != schema.StatusDuplicate || r.Leaf != ref.Leaf {
		t.Fatalf("redelivery receipt %v, want duplicate at leaf %d", r, ref.Leaf)
	}
	if err := adapters.VerifyReceipt(r, raw, lg.log.Verifier()); err != nil {
		t.Fatalf("duplicate receipt does not verify: %v", err)
	}

	// Bad inputs: each gets its own rejection and changes nothing.
	taxRT, _ := lg.catalog.RecordType("tax", "tax-credit", 0)
	next := uint64(perDept + 1)
	build := func(seq uint64, key ed25519.PrivateKey, i int, mutate func(*schema.Envelope, []schema.Disclosure) []string) ([]byte, string) {
		ch, ds, err := schema.BuildChange(taxRT, schema.OpUpsert, schema.RecordRef(schema.DemoSecret("tax"), taxRT.Name, []string{fmt.Sprint(i)}), values(t, taxRT, i), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		env := &schema.Envelope{V: 1, Kind: schema.KindRecordChange, Department: "tax", Seq: seq, Time: "2024-01-02T03:04:05Z", Change: ch}
		if err := schema.Sign(env, key); err != nil {
			t.Fatal(err)
		}
		enc := encoded(ds)
		if mutate != nil {
			enc = mutate(env, ds)
		}
		b := ingesttest.EncodeMessage(t, env, enc)
		return b, digestOf(t, b)
	}
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	forge := func(env *schema.Envelope, ds []schema.Disclosure) []string {
		sig, _ := base64.RawURLEncoding.DecodeString(env.Sig)
		sig[0] ^= 1
		env.Sig = base64.RawURLEncoding.EncodeToString(sig)
		return encoded(ds)
	}
	badValue := func(env *schema.Envelope, ds []schema.Disclosure) []string {
		// A correctly signed change whose committed credit_level is not an
		// enum value: a schema violation the department signed.
		out := encoded(ds)
		for i, d := range ds {
			f, _ := taxRT.Field(d.Name)
			if f.Type == schema.TypeEnum || f.Type == schema.TypeDate {
				bad, _ := schema.NewDisclosure(d.Salt, d.Name, "not-a-valid-value")
				env.Change.Digests[d.Name] = bad.Digest()
				out[i] = bad.Encoded
				break
			}
		}
		if err := schema.Sign(env, schema.DemoKey("tax")); err != nil {
			t.Fatal(err)
		}
		return out
	}
	mismatch := func(env *schema.Envelope, ds []schema.Disclosure) []string {
		out := encoded(ds)
		alt, _ := schema.NewDisclosure(ds[0].Salt, ds[0].Name, "tampered")
		out[0] = alt.Encoded
		return out
	}
	type bad struct {
		name, topic, reason string
		value               []byte
		digest              string
	}
	var cases []bad
	add := func(name, reason string, v []byte, d string) {
		cases = append(cases, bad{name: name, topic: lg.tc.ChangesTopic, reason: reason, value: v, digest: d})
	}
	v1, d1 := build(next, schema.DemoKey("tax"), 9001, forge)
	add("forged signature", schema.ReasonBadSignature, v1, d1)
	v2, d2 := build(next, stranger, 9002, nil)
	add("unknown key", schema.ReasonUnknownKey, v2, d2)
	v3, d3 := build(1, schema.DemoKey("tax"), 9003, nil)
	add("equivocating seq", schema.ReasonEquivocation, v3, d3)
	v4, d4 := build(next, schema.DemoKey("tax"), 9004, badValue)
	add("schema violation", schema.ReasonSchema, v4, d4)
	v5, d5 := build(next, schema.DemoKey("tax"), 9005, mismatch)
	add("disclosure mismatch", schema.ReasonDisclosureMismatch, v5, d5)
	big := bigAccess(t)
	cases = append(cases, bad{name: "oversize entry", topic: lg.tc.AccessTopic, reason: schema.ReasonTooLarge, value: big, digest: digestOf(t, big)})
	add("malformed", schema.ReasonMalformed, []byte(`{"envelope":{"v":1},"bogus":true}`), schema.EnvelopeDigest([]byte(`{"v":1}`)))

	size := lg.log.Size()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := "tax"
			if tc.topic == lg.tc.AccessTopic {
				key = "gateway"
			}
			send(tc.topic, key, tc.value)
			var r *schema.Receipt
			if tc.name == "malformed" {
				r = receiptWhere(t, ctx, lg.receipts, func(r *schema.Receipt) bool { return r.Seq == 0 && r.Department == "tax" })
			} else {
				r = receiptFor(t, ctx, lg.receipts, tc.digest)
			}
			if r.Status != schema.StatusRejected || r.Reason != tc.reason {
				t.Fatalf("receipt %v, want rejected (%s)", r, tc.reason)
			}
			if lg.log.Size() != size {
				t.Fatalf("log grew from %d to %d", size, lg.log.Size())
			}
		})
	}
	if got := lg.log.Size(); got != size {
		t.Fatalf("log size %d after bad inputs, want %d", got, size)
	}
}

// projectAll steps pj until it has nothing left to project, then checks
// that the watermark of its store st is at size.
func projectAll(t *testing.T, ctx context.Context, pj *ingest.Projector, st store.Store, size uint64) {
	t.Helper()
	for {
		n, err := pj.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	wm, err := st.Watermark(ctx)
	if err != nil || wm.Size != size {
		t.Fatalf("watermark %+v, %v; want size %d", wm, err, size)
	}
}

func encoded(ds []schema.Disclosure) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Encoded)
	}
	return out
}

// bigAccess is a gateway-signed access entry over the 64 KiB entry limit.
func bigAccess(t *testing.T) []byte {
	var subjects []string
	for i := 0; len(subjects)*45 < schema.MaxEntrySize+1000; i++ {
		subjects = append(subjects, schema.SubjectTag([]byte("k"), fmt.Sprint(i)))
	}
	sortStrings(subjects)
	env := &schema.Envelope{V: 1, Kind: schema.KindAccess, Department: "gateway", Seq: 1, Time: "2024-01-02T03:04:05Z",
		Access: &schema.Access{Consumer: "real-estate", User: "u", Purpose: "real-estate-transfer", Subjects: subjects}}
	if err := schema.Sign(env, schema.DemoKey("gateway")); err != nil {
		t.Fatal(err)
	}
	return ingesttest.EncodeMessage(t, env, nil)
}

func digestOf(t *testing.T, msg []byte) string {
	m, err := schema.DecodeMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	return schema.EnvelopeDigest(m.Envelope)
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && strings.Compare(s[j-1], s[j]) > 0; j-- {
			s[j-1], s[j] = s[j], s[j-1]
		}
	}
}

func drain(c <-chan *schema.Receipt) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

func receiptFor(t *testing.T, ctx context.Context, c <-chan *schema.Receipt, digest string) *schema.Receipt {
	t.Helper()
	return receiptWhere(t, ctx, c, func(r *schema.Receipt) bool { return r.EnvelopeDigest == digest })
}

func receiptWhere(t *testing.T, ctx context.Context, c <-chan *schema.Receipt, match func(*schema.Receipt) bool) *schema.Receipt {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case r := <-c:
			if match(r) {
				return r
			}
		case <-timeout:
			t.Fatal("no matching receipt within 30s")
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
}

func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	ingesttest.WaitFor(t, ctx, what, cond)
}
