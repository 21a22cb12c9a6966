package gateway

import (
	"encoding/json"
	"reflect"
	"testing"

	graphql "github.com/graph-gophers/graphql-go"
)

// TestEncodeResponse checks encodeResponse against json.Marshal (the
// oracle) on responses with and without each part.
func TestEncodeResponse(t *testing.T) {
	e := newError(codeForbidden, "no <grant> & no luck")
	e.Extensions["reason"] = "no-grant"
	for _, resp := range []*graphql.Response{
		{},
		{Data: json.RawMessage(`null`)},
		{Data: json.RawMessage(`{"person":{"subject":"t","departments":[{"department":"tax","records":[{"key":["王 <a>"]}]}]}}`)},
		{Errors: []*gqlerror{e}},
		{Errors: []*gqlerror{e}, Data: json.RawMessage(`{"x":null}`), Extensions: map[string]any{"access": map[string]any{"id": "gateway:1"}}},
		{Extensions: map[string]any{"checkpoint": map[string]any{"origin": "o", "size": 3}}},
	} {
		want, err := json.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		got, err := encodeResponse(resp)
		if err != nil {
			t.Fatal(err)
		}
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("encodeResponse gave invalid JSON %s: %v", got, err)
		}
		json.Unmarshal(want, &w)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("encodeResponse = %s\njson.Marshal = %s", got, want)
		}
	}
}
