package bytesize

import (
	"testing"

	"gopkg.in/yaml.v3"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]uint64{"0": 0, "1024": 1024, "1KiB": 1024, "2 MiB": 2 << 20, "1GiB": 1 << 30, "5GB": 5e9, "7B": 7, "1TiB": 1 << 40} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "GiB", "-1", "1.5GiB", "1 parsec", "99999999999999999TiB"} {
		if _, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) succeeded", in)
		}
	}
}

func TestUnmarshalYAML(t *testing.T) {
	var v struct {
		Free Size `yaml:"free"`
	}
	if err := yaml.Unmarshal([]byte("free: 2GiB\n"), &v); err != nil || v.Free != 2<<30 {
		t.Errorf("free: 2GiB = %d, %v", v.Free, err)
	}
	err := yaml.Unmarshal([]byte("a: 1\nfree: lots\n"), &v)
	if err == nil || err.Error() != `yaml: unmarshal errors:
  line 2: "lots" is not a size (bytes, or a number with KB, MB, GB, TB, KiB, MiB, GiB or TiB)` {
		t.Errorf("free: lots: %v", err)
	}
}
