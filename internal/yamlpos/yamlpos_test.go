package yamlpos

import (
	"io"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const doc = `kafka:
  brokers:
    - a:1
    - b:2
store:
  sqlite:
    path: x.db
`

func TestLine(t *testing.T) {
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &root); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path []any
		want int
	}{
		{[]any{"kafka"}, 1},
		{[]any{"kafka", "brokers"}, 2},
		{[]any{"kafka", "brokers", 1}, 4},
		{[]any{"kafka", "brokers", 7}, 2},          // missing index: its sequence's key
		{[]any{"kafka", "topics", "changes"}, 1},   // missing key: its section's line
		{[]any{"store", "sqlite", "path", "x"}, 7}, // below a scalar: the scalar's key
		{[]any{"metrics", "listen"}, 0},            // missing top-level section: no line
		{[]any{"store", 0}, 5},                     // an index into a mapping: the mapping
		{nil, 0},
	} {
		if got := Line(&root, tc.path...); got != tc.want {
			t.Errorf("Line(%v) = %d, want %d", tc.path, got, tc.want)
		}
	}
	if got := Line(root.Content[0].Content[1], "brokers", 0); got != 3 {
		t.Errorf("Line below a mapping node = %d, want 3", got)
	}
	if Line(nil, "a") != 0 || Line(&yaml.Node{Kind: yaml.DocumentNode}, "a") != 0 {
		t.Error("an empty document has no lines")
	}
}

func TestLocate(t *testing.T) {
	type target struct{ A int }
	var v target
	typeErr := yaml.Unmarshal([]byte("b: 1\na: [x]\n"), &v)
	var n yaml.Node
	syntaxErr := yaml.Unmarshal([]byte("a: [1\nb: 2\n"), &n)
	eof := yaml.NewDecoder(strings.NewReader("")).Decode(&n)
	if eof != io.EOF {
		t.Fatalf("empty decode = %v, want io.EOF", eof)
	}
	for _, tc := range []struct {
		name   string
		err    error
		line   int
		reason string
	}{
		{"type error", typeErr, 2, "cannot unmarshal"},
		{"syntax error", syntaxErr, 0, ""},
		{"empty document", eof, 0, "empty document"},
		{"plain", io.ErrUnexpectedEOF, 0, "unexpected EOF"},
	} {
		if tc.err == nil {
			t.Fatalf("%s: no error to locate", tc.name)
		}
		line, reason := Locate(tc.err)
		if tc.name == "syntax error" {
			if line == 0 || reason == "" || strings.HasPrefix(reason, "yaml:") {
				t.Errorf("%s: Locate(%q) = %d, %q; want a line and the bare reason", tc.name, tc.err, line, reason)
			}
			continue
		}
		if line != tc.line || !strings.Contains(reason, tc.reason) {
			t.Errorf("%s: Locate(%q) = %d, %q; want %d, …%q…", tc.name, tc.err, line, reason, tc.line, tc.reason)
		}
	}
}

func TestDotted(t *testing.T) {
	if got, want := Dotted("store.clickhouse.addr.0"), []any{"store", "clickhouse", "addr", 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("Dotted = %v, want %v", got, want)
	}
}
