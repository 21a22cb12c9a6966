package witness_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/crossledger/crossledger/merkle/witness"
)

func genKey(t testing.TB, name string) (skey, vkey string) {
	t.Helper()
	skey, vkey, err := witness.GenerateKey(name)
	if err != nil {
		t.Fatal(err)
	}
	return skey, vkey
}

func TestParsePolicy(t *testing.T) {
	_, w1 := genKey(t, "w1.example")
	_, w2 := genKey(t, "w2.example")
	_, w3 := genKey(t, "w3.example")
	_, y1 := genKey(t, "y1.example")
	good := fmt.Sprintf(`# the departments' witnesses
witness X1 %s http://127.0.0.1:1
witness X2 %s
	witness X3 %s
group X 2 X1 X2 X3
witness Y1 %s
group XY all X Y1
quorum XY
`, w1, w2, w3, y1)
	p, err := witness.ParsePolicy([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Witnesses) != 4 || p.Witnesses[0].URL != "http://127.0.0.1:1" || p.Quorum() != "XY" {
		t.Fatalf("parsed %+v", p)
	}
	for _, c := range []struct {
		set  string
		want bool
	}{
		{"", false}, {"X1 X2", false}, {"X1 Y1", false}, {"X1 X2 Y1", true}, {"X2 X3 Y1", true}, {"X1 X2 X3", false},
	} {
		m := map[string]bool{}
		for _, n := range strings.Fields(c.set) {
			m[n] = true
		}
		if got := p.Satisfied(m); got != c.want {
			t.Errorf("Satisfied(%s) = %v, want %v", c.set, got, c.want)
		}
	}
	none, err := witness.ParsePolicy([]byte("quorum none\n"))
	if err != nil || !none.Satisfied(nil) {
		t.Fatalf("quorum none: %v", err)
	}

	for name, bad := range map[string]string{
		"no quorum":          "witness X1 " + w1 + "\n",
		"two quorums":        "witness X1 " + w1 + "\nquorum X1\nquorum X1\n",
		"undefined quorum":   "quorum X9\n",
		"forward reference":  "group G any X1\nwitness X1 " + w1 + "\nquorum G\n",
		"duplicate name":     "witness X1 " + w1 + "\nwitness X1 " + w2 + "\nquorum X1\n",
		"duplicate key":      "witness X1 " + w1 + "\nwitness X2 " + w1 + "\nquorum X1\n",
		"threshold too high": "witness X1 " + w1 + "\ngroup G 2 X1\nquorum G\n",
		"threshold zero":     "witness X1 " + w1 + "\ngroup G 0 X1\nquorum G\n",
		"member twice":       "witness X1 " + w1 + "\ngroup G any X1 X1\nquorum G\n",
		"none as member":     "witness X1 " + w1 + "\ngroup G any none\nquorum G\n",
		"log key as witness": "witness X1 example.com/log+c74f20a3+AYEoQhIGSy3pjTbZ+c9tqPjsXL7O6WfIrcDCmUv3SeVi\nquorum X1\n",
		"unknown keyword":    "witnesses X1 " + w1 + "\nquorum none\n",
		"control character":  "quorum none\x00\n",
	} {
		if _, err := witness.ParsePolicy([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCosignerNeedsURLs(t *testing.T) {
	_, w1 := genKey(t, "w1.example")
	p, err := witness.ParsePolicy([]byte("witness X1 " + w1 + "\nquorum X1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := witness.NewCosigner(p, nil, 0, nil); err == nil {
		t.Fatal("a cosigner with no witness URL was made")
	}
	if _, err := p.Check([]byte("x\n\n— x AAAA\n"), nil); err == nil || errors.Is(err, witness.ErrQuorum) {
		t.Fatalf("Check without any log key: %v", err)
	}
}

func TestKeys(t *testing.T) {
	skey, vkey := genKey(t, "civil-affairs.example/witness")
	s, err := witness.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	if s.VerifierKey() != vkey {
		t.Fatalf("signer's vkey %s, generated %s", s.VerifierKey(), vkey)
	}
	v, err := witness.NewVerifier(vkey)
	if err != nil || v.String() != vkey || v.KeyHash() != s.KeyHash() {
		t.Fatalf("verifier %v, %v", v, err)
	}
	sig, err := s.Sign([]byte("o\n1\n" + h32 + "\n"))
	if err != nil || !v.Verify([]byte("o\n1\n"+h32+"\n"), sig) || v.Verify([]byte("o\n2\n"+h32+"\n"), sig) {
		t.Fatalf("sign/verify: %v", err)
	}
	for _, bad := range []string{"", "PRIVATE+KEY+x", strings.Replace(skey, "PRIVATE+KEY+", "", 1), skey[:len(skey)-4] + "AAA="} {
		if _, err := witness.NewSigner(bad); err == nil {
			t.Errorf("NewSigner(%.30q) accepted", bad)
		}
	}
	if _, _, err := witness.GenerateKey("bad name"); err == nil {
		t.Error("a key name with a space was accepted")
	}
}
