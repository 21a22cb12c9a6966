// Package yamlpos says where in a YAML file something went wrong: the line
// a yaml.v3 error names, and the line of a node given by its path. The
// configuration loader (ops/config) and the schema loader (schema) both
// report errors as file:line: field: reason with it, so both agree on
// what an empty file is and which line a missing field points at.
package yamlpos

import (
	"errors"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Locate splits a yaml.v3 error ("yaml: line 3: …", or a TypeError whose
// first entry is "line 3: …") into its line (0 when it names none) and
// its reason. An empty document (io.EOF from a Decoder) is "empty
// document".
func Locate(err error) (line int, reason string) {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, reason, ok := strings.Cut(rest, ": "); ok {
			if line, err := strconv.Atoi(num); err == nil {
				return line, reason
			}
		}
	}
	if msg == "EOF" {
		msg = "empty document"
	}
	return 0, msg
}

// Line is the line of the node at path below root (a document or a
// node), or of its deepest ancestor in the file. Each step is a mapping
// key (string) or a sequence index (int). It is 0 when not even the
// path's first step is in the file: a missing top-level field has no line
// to point at.
func Line(root *yaml.Node, path ...any) int {
	if root == nil {
		return 0
	}
	n := root
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return 0
		}
		n = n.Content[0]
	}
	line := 0
	for _, step := range path {
		next, at := child(n, step)
		if next == nil {
			break
		}
		n, line = next, at
	}
	return line
}

// child is n's child at step and the line that names it: a mapping key's
// line, or a sequence element's.
func child(n *yaml.Node, step any) (*yaml.Node, int) {
	switch s := step.(type) {
	case string:
		if n.Kind != yaml.MappingNode {
			return nil, 0
		}
		var next *yaml.Node
		line := 0
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == s { // the last of duplicate keys wins, as in decoding
				next, line = n.Content[i+1], n.Content[i].Line
			}
		}
		return next, line
	case int:
		if n.Kind != yaml.SequenceNode || s < 0 || s >= len(n.Content) {
			return nil, 0
		}
		return n.Content[s], n.Content[s].Line
	}
	return nil, 0
}

// Dotted turns a dotted field path ("store.clickhouse.addr.0") into Line's
// steps: numeric parts are sequence indexes.
func Dotted(field string) []any {
	var path []any
	for _, part := range strings.Split(field, ".") {
		if i, err := strconv.Atoi(part); err == nil {
			path = append(path, i)
		} else {
			path = append(path, part)
		}
	}
	return path
}
