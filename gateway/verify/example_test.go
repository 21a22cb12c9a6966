package verify_test

import (
	"fmt"

	"golang.org/x/mod/sumdb/note"

	"github.com/crossledger/crossledger/gateway/verify"
	"github.com/crossledger/crossledger/schema"
)

func ExampleResponse() {
	// The log's verifier key, as 'crossledger keygen log' prints it, and
	// the department keys of the genesis file.
	logKey, _ := note.NewVerifier("example.com/log+7b9c582e+AX9iN3ML7a+51N7+t9vSfMhjbnoK1aaB2pTA6hEQQEXP")
	g, _ := schema.DemoGenesis()
	keys, _ := schema.NewKeyRing(g)

	// A saved response whose record was cut short.
	saved := []byte(`{"data": {"record": {"envelope": "{}", "fields": []}},
	                  "extensions": {"access": {"id": "gateway:42"}}}`)
	rep, err := verify.Response(saved, logKey, keys)
	if err != nil {
		panic(err) // not a GraphQL response at all
	}
	fmt.Println("records:", rep.Records, "ok:", rep.OK(), "access entry:", rep.AccessID)
	for _, f := range rep.Failures {
		fmt.Println(f.Problem, f)
	}
	// Output:
	// records: 1 ok: false access entry: gateway:42
	// incomplete data.record: record lacks proof: select envelope, proof and fields under these names (not aliased) to verify it
}
