package witness_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/crossledger/crossledger/merkle/witness"
)

const h32 = "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw="

func TestParseAddCheckpoint(t *testing.T) {
	cp := "example.com/log\n5\n" + h32 + "\n\n— example.com/log AAAA\n"
	good := "old 3\n" + h32 + "\n" + h32 + "\n\n" + cp
	req, err := witness.ParseAddCheckpoint([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if req.OldSize != 3 || len(req.Proof) != 2 || string(req.Checkpoint) != cp {
		t.Fatalf("parsed %+v", req)
	}
	if !bytes.Equal(req.Encode(), []byte(good)) {
		t.Fatalf("Encode does not round-trip:\n%s", req.Encode())
	}
	for _, bad := range []string{
		"",
		"old 3",
		"new 3\n\n" + cp,
		"old 03\n\n" + cp,
		"old -1\n\n" + cp,
		"old 3 \n\n" + cp,
		"old 18446744073709551616\n\n" + cp,
		"old 3\nnot base64!\n\n" + cp,
		"old 3\nAAAA\n\n" + cp, // not 32 bytes
		"old 3\n" + h32,
		"old 3\n\n",
		"old 3\n" + strings.Repeat(h32+"\n", 64) + "\n" + cp,
		"old 3\n\n" + strings.Repeat("x", witness.MaxRequestSize),
	} {
		if _, err := witness.ParseAddCheckpoint([]byte(bad)); err == nil {
			t.Errorf("accepted %.60q", bad)
		}
	}
	if _, err := witness.ParseAddCheckpoint([]byte("old 0\n" + strings.Repeat(h32+"\n", 63) + "\n" + cp)); err != nil {
		t.Errorf("63 proof lines refused: %v", err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]uint64{"0\n": 0, "42\n": 42} {
		if got, err := witness.ParseSize([]byte(in)); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "42", "042\n", "x\n", "4 2\n"} {
		if _, err := witness.ParseSize([]byte(bad)); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}

func FuzzParseAddCheckpoint(f *testing.F) {
	f.Add([]byte("old 3\n" + h32 + "\n\nexample.com/log\n5\n" + h32 + "\n\n— example.com/log AAAA\n"))
	f.Add([]byte("old 0\n\nx"))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := witness.ParseAddCheckpoint(b)
		if err != nil {
			return
		}
		again, err := witness.ParseAddCheckpoint(req.Encode())
		if err != nil || again.OldSize != req.OldSize || len(again.Proof) != len(req.Proof) || !bytes.Equal(again.Checkpoint, req.Checkpoint) {
			t.Fatalf("re-encoding does not parse back the same: %v", err)
		}
		if !bytes.Equal(req.Encode(), b) {
			t.Fatalf("accepted a non-canonical body %q", b)
		}
	})
}
