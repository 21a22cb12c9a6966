package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crossledger/crossledger/internal/keyfile"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/merkle/witness"
	"github.com/crossledger/crossledger/ops/testenv/litewitness"
)

// TestVerifyPolicyLitewitness: a saved answer whose proof's checkpoint
// carries a cosignature made by torchwood's litewitness verifies under a
// policy naming litewitness's key, and fails on the quorum under a policy
// that also needs a witness that did not cosign.
func TestVerifyPolicyLitewitness(t *testing.T) {
	ctx := context.Background()
	f := newVerifyFixture(t)
	origin := f.vkey[:strings.IndexByte(f.vkey, '+')]
	lw := litewitness.Start(t, origin, f.vkey)

	skey, err := keyfile.Read(filepath.Join(f.data, "log.key"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := merkle.Open(ctx, filepath.Join(f.data, "log"), merkle.Options{SignerKey: skey, Witnessed: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	head := l.Head()

	code, body, _ := addCheckpoint(t, ctx, lw.Addr, witness.AddCheckpoint{OldSize: 0, Checkpoint: head})
	if code != http.StatusOK {
		t.Fatalf("litewitness add-checkpoint: %d %q\n%s", code, body, lw.Output())
	}
	cosigned, err := witness.Merge(head, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Publish(ctx, cosigned); err != nil {
		t.Fatal(err)
	}
	p, err := l.ProofBundle(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(p.Encode(), []byte(body)) {
		t.Fatalf("the proof's checkpoint lacks litewitness's cosignature:\n%s", p.Encode())
	}
	if st := lw.State(); st.Size != 4 {
		t.Fatalf("litewitness's database holds size %d, the log's head is size 4", st.Size)
	}
	f.record["proof"] = string(p.Encode())
	resp := f.write(t)

	_, otherVKey, err := witness.GenerateKey("other.example/witness")
	if err != nil {
		t.Fatal(err)
	}
	policy := func(text string) string {
		name := filepath.Join(t.TempDir(), "policy")
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return name
	}

	t.Run("litewitness", func(t *testing.T) {
		code, out, errOut := runCLI(t, "verify", resp, "--log-key", f.vkey, "--policy", policy(fmt.Sprintf("witness LW %s\nquorum LW\n", lw.VKey)))
		if code != 0 {
			t.Fatalf("exit %d, want 0\n%s%s", code, out, errOut)
		}
		for _, w := range []string{"checkpoint: " + origin + " size 4 root ", "cosigned by LW", "ok: every record"} {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q:\n%s", w, out)
			}
		}
		if strings.Contains(out, "FAIL") {
			t.Errorf("output has FAIL:\n%s", out)
		}
	})
	t.Run("litewitness and another", func(t *testing.T) {
		code, out, errOut := runCLI(t, "verify", resp, "--log-key", f.vkey, "--policy",
			policy(fmt.Sprintf("witness LW %s\nwitness OTHER %s\ngroup both all LW OTHER\nquorum both\n", lw.VKey, otherVKey)))
		if code != 1 {
			t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
		}
		for _, w := range []string{"FAIL data.record.proof: ", "quorum", `"both"`, "cosigned by LW"} {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q:\n%s", w, out)
			}
		}
		if strings.Contains(out, "ok: every record") {
			t.Errorf("output has ok:\n%s", out)
		}
		if !strings.Contains(errOut, "does not verify: 1 failure") {
			t.Errorf("stderr: %s", errOut)
		}
	})
}
