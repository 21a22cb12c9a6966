package merkle_test

import (
	"context"
	"fmt"
	"os"

	"github.com/crossledger/crossledger/merkle"
	"golang.org/x/mod/sumdb/note"
)

func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "merkle-example")
	defer os.RemoveAll(dir)

	skey, vkey, _ := merkle.GenerateKey("example.com/log")
	l, err := merkle.Open(ctx, dir, merkle.Options{SignerKey: skey})
	if err != nil {
		panic(err)
	}
	defer l.Close()

	// Entries and the caller's state become durable together.
	first, err := l.Append(ctx, [][]byte{[]byte("hello"), []byte("world")}, []byte("kafka offset 42"))
	if err != nil {
		panic(err)
	}
	fmt.Println("first index:", first, "size:", l.Size(), "state:", string(l.State()))

	// An offline proof that "world" is in the log.
	p, _ := l.ProofBundle(ctx, 1)
	decoded, _ := merkle.DecodeProof(p.Encode())
	v, _ := note.NewVerifier(vkey)
	cp, err := decoded.Verify([]byte("world"), v)
	fmt.Println("verified in tree of size", cp.Size, err)
	// Output:
	// first index: 0 size: 2 state: kafka offset 42
	// verified in tree of size 2 <nil>
}

func ExampleParseTilePath() {
	p, err := merkle.ParseTilePath("tile/0/x001/x234/067.p/8")
	fmt.Println(p.Level, p.Index, p.Width, p.Entries, err)
	_, err = merkle.ParseTilePath("tile/0/x000/001")
	fmt.Println(err)
	// Output:
	// 0 1234067 8 false <nil>
	// merkle: tile path "tile/0/x000/001" is not canonical (want "tile/0/001")
}
