package merkle

import (
	"net/http"
	"net/url"
	"testing"
)

func TestProofRange(t *testing.T) {
	for _, tc := range []struct {
		query  string
		strict bool
		code   int
		l, h   uint64
	}{
		{"a=0&b=1", true, 0, 0, 1},
		{"a=9&b=10", true, 0, 9, 10},
		{"a=1&b=1", true, http.StatusBadRequest, 0, 0},
		{"a=1&b=1", false, 0, 1, 1},
		{"a=2&b=1", false, http.StatusBadRequest, 0, 0},
		{"a=0&b=11", false, http.StatusNotFound, 0, 0},
		{"a=0&b=11", true, http.StatusNotFound, 0, 0},
		{"b=1", true, http.StatusBadRequest, 0, 0},
		{"a=0", false, http.StatusBadRequest, 0, 0},
		{"a=01&b=2", false, http.StatusBadRequest, 0, 0},
		{"a=0&a=0&b=2", false, http.StatusBadRequest, 0, 0},
		{"a=-1&b=2", true, http.StatusBadRequest, 0, 0},
		{"a=0&b=9223372036854775808", false, http.StatusBadRequest, 0, 0},
	} {
		q, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		l, h, code, err := proofRange(q, "a", "b", tc.strict, 10)
		if code != tc.code || (err == nil) != (tc.code == 0) || l != tc.l || h != tc.h {
			t.Errorf("%q strict=%v: got %d, %d, %d, %v; want %d, %d, %d", tc.query, tc.strict, l, h, code, err, tc.l, tc.h, tc.code)
		}
	}
}
