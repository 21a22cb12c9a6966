package schema

import (
	"errors"
	"math"
	"testing"
)

func TestCanonicalJSONRFC8785(t *testing.T) {
	tests := []struct{ in, want string }{
		// RFC 8785 section 3.2.2.
		{`{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}`, `{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`},
		// RFC 8785 section 3.2.3: sorting by UTF-16 code units.
		{`{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}`,
			"{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"\u00f6\":\"Latin Small Letter O With Diaeresis\",\"\u20ac\":\"Euro Sign\",\"\U0001F600\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}"},
		{`[-0, 1e21, 1e20, 5e-324, 1.7976931348623157e308, 0.000001, 1e-7, -1.5, 100]`,
			`[0,1e+21,100000000000000000000,5e-324,1.7976931348623157e+308,0.000001,1e-7,-1.5,100]`},
		{`"\u2028<>&"`, "\"\u2028<>&\""},
		{` { "b" : [ ] , "a" : { } } `, `{"a":{},"b":[]}`},
	}
	for _, tt := range tests {
		got, err := CanonicalJSON([]byte(tt.in))
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if string(got) != tt.want {
			t.Errorf("CanonicalJSON(%s)\n got  %s\n want %s", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{`{"a":1,"a":2}`, `[1e400]`, "\"\xff\"", `{"a":1} x`, `{`} {
		if _, err := CanonicalJSON([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("CanonicalJSON(%q) = %v, want ErrMalformed", bad, err)
		}
	}
	if _, err := appendES6Number(nil, math.NaN()); err == nil {
		t.Error("NaN encoded")
	}
}

// TestCompareUTF16: RFC 8785 orders keys by UTF-16 code units, which is
// not the UTF-8 byte order where a surrogate pair meets U+E000–U+FFFF.
func TestCompareUTF16(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "a", 0}, {"a", "b", -1}, {"ab", "a", 1},
		{"é", "z", 1}, {"\uFFFD", "\U0001F600", 1}, {"\uE000", "\U00010000", 1},
		{"\U0001F600", "\U0001F601", -1}, {"x\U0001F601", "x\U0001F600", 1},
		{"\u00e9", "\u00ea", -1}, {"\u0800", "\u07ff", 1},
	} {
		got := compareUTF16(tc.a, tc.b)
		if got < 0 && tc.want >= 0 || got > 0 && tc.want <= 0 || got == 0 && tc.want != 0 {
			t.Errorf("compareUTF16(%q, %q) = %d, want sign %d", tc.a, tc.b, got, tc.want)
		}
	}
}
