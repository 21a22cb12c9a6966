package schema

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestMemberTables: each member table lists the members of its Go type
// (by their JSON tags: same keys, omitempty exactly where the table omits
// zero values) in canonical order, so that the wire form, the JSON tags
// and encoding/json agree.
func TestMemberTables(t *testing.T) {
	checkMembers(t, envelopeMembers)
	checkMembers(t, changeMembers)
	checkMembers(t, grantMembers)
	checkMembers(t, revokeMembers)
	checkMembers(t, accessMembers)
	checkMembers(t, accessDenialMembers)
	checkMembers(t, accessItemMembers)
	checkMembers(t, departmentKeyMembers)
	checkMembers(t, schemaChangeMembers)
	checkMembers(t, recordTypeMembers)
	checkMembers(t, fieldMembers)
	checkMembers(t, messageMembers)
	checkMembers(t, receiptMembers)
}

func checkMembers[T any](t *testing.T, ms []member[T]) {
	t.Helper()
	typ := reflect.TypeFor[T]()
	omitempty := map[string]bool{}
	var tags, keys []string
	for i := range typ.NumField() {
		tag, opts, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		tags = append(tags, tag)
		omitempty[tag] = opts == "omitempty"
	}
	for i, m := range ms {
		keys = append(keys, m.key)
		if i > 0 && compareUTF16(ms[i-1].key, m.key) >= 0 {
			t.Errorf("%s: %q before %q: not the canonical order", typ.Name(), ms[i-1].key, m.key)
		}
		if m.omit != omitempty[m.key] {
			t.Errorf("%s.%s: omitted when zero %v, omitempty %v", typ.Name(), m.key, m.omit, omitempty[m.key])
		}
		if m.must && m.omit {
			t.Errorf("%s.%s: has no zero value, yet omitted when zero", typ.Name(), m.key)
		}
	}
	slices.Sort(tags)
	if !slices.Equal(tags, keys) {
		t.Errorf("%s: members %v, JSON tags %v", typ.Name(), keys, tags)
	}
}
