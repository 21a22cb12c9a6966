// Package bytesize is a size in bytes as the YAML configuration writes it:
// an integer, or a number with a unit ("1GiB", "500 MB").
package bytesize

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Size is a size in bytes, written as an integer or with a unit suffix
// (KB, MB, GB, TB: powers of 1000; KiB, MiB, GiB, TiB: powers of 1024; B).
type Size uint64

// UnmarshalYAML parses an integer or a number with a unit.
func (b *Size) UnmarshalYAML(n *yaml.Node) error {
	v, err := Parse(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*b = Size(v)
	return nil
}

// units are tried in order: the binary ones first, so "GiB" is not read
// as a number followed by "B".
var units = []struct {
	suffix string
	mult   uint64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}

// Parse parses "1073741824", "1GiB", "500 MB".
func Parse(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	mult := uint64(1)
	for _, u := range units {
		if num, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	v, err := strconv.ParseUint(t, 10, 64)
	if err != nil || (mult > 1 && v > ^uint64(0)/mult) {
		return 0, fmt.Errorf("%q is not a size (bytes, or a number with KB, MB, GB, TB, KiB, MiB, GiB or TiB)", s)
	}
	return v * mult, nil
}
