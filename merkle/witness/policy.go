package witness

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/crossledger/crossledger/merkle"
)

// ErrQuorum: a checkpoint does not carry the cosignatures its policy needs.
var ErrQuorum = errors.New("witness: checkpoint not cosigned by a quorum")

// MaxPolicySize bounds a policy file.
const MaxPolicySize = 64 << 10

// Policy is a C2SP tlog-policy: the logs accepted, the witnesses known, and
// the quorum rule a checkpoint's cosignatures must satisfy.
type Policy struct {
	Logs      []PolicyLog
	Witnesses []Witness // in file order
	quorum    *component
	byName    map[string]*component
}

// PolicyLog is a policy's "log <vkey> [<url>]" line.
type PolicyLog struct {
	VKey     string
	Origin   string
	URL      string
	Verifier note.Verifier
}

// Witness is a policy's "witness <name> <vkey> [<url>]" line.
type Witness struct {
	Name     string // the policy's name for it
	VKey     string
	URL      string // the submission prefix, if given
	Verifier *Verifier
}

// component is a witness (k = 0, no members) or a group.
type component struct {
	name    string
	witness int // index into Witnesses, or -1 for a group
	k       int
	members []*component
}

// PolicyError locates a problem in a policy file.
type PolicyError struct {
	Line   int
	Reason string
}

func (e *PolicyError) Error() string { return fmt.Sprintf("policy line %d: %s", e.Line, e.Reason) }

// ParsePolicy parses a C2SP tlog-policy file. Witness keys must be
// cosignature/v1 (type 0x04) vkeys; log keys Ed25519 (type 0x01) vkeys.
func ParsePolicy(b []byte) (*Policy, error) {
	if len(b) > MaxPolicySize {
		return nil, fmt.Errorf("witness: policy larger than %d bytes", MaxPolicySize)
	}
	p := &Policy{byName: map[string]*component{"none": nil}}
	seenKeys := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		n := i + 1
		bad := func(format string, args ...any) error {
			return &PolicyError{Line: n, Reason: fmt.Sprintf(format, args...)}
		}
		for _, c := range []byte(line) {
			if c < 0x20 && c != '\t' || c == 0x7f {
				return nil, bad("control character 0x%02x", c)
			}
		}
		f := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' })
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "log":
			if len(f) < 2 || len(f) > 3 {
				return nil, bad("want: log <vkey> [<url>]")
			}
			v, err := note.NewVerifier(f[1])
			if err != nil {
				return nil, bad("log key: %v", err)
			}
			if dup, ok := seenKeys[keyMaterial(f[1])]; ok {
				return nil, bad("duplicate key (also %s)", dup)
			}
			seenKeys[keyMaterial(f[1])] = "log " + v.Name()
			l := PolicyLog{VKey: f[1], Origin: v.Name(), Verifier: v}
			if len(f) == 3 {
				l.URL = f[2]
			}
			p.Logs = append(p.Logs, l)
		case "witness":
			if len(f) < 3 || len(f) > 4 {
				return nil, bad("want: witness <name> <vkey> [<url>]")
			}
			if _, ok := p.byName[f[1]]; ok {
				return nil, bad("name %q already defined", f[1])
			}
			v, err := NewVerifier(f[2])
			if err != nil {
				return nil, bad("%v", err)
			}
			if dup, ok := seenKeys[keyMaterial(f[2])]; ok {
				return nil, bad("duplicate key (also %s)", dup)
			}
			seenKeys[keyMaterial(f[2])] = "witness " + f[1]
			w := Witness{Name: f[1], VKey: f[2], Verifier: v}
			if len(f) == 4 {
				w.URL = f[3]
			}
			p.byName[f[1]] = &component{name: f[1], witness: len(p.Witnesses)}
			p.Witnesses = append(p.Witnesses, w)
		case "group":
			if len(f) < 4 {
				return nil, bad("want: group <name> (all|any|<k>) <member>...")
			}
			if _, ok := p.byName[f[1]]; ok {
				return nil, bad("name %q already defined", f[1])
			}
			g := &component{name: f[1], witness: -1}
			seen := map[string]bool{}
			for _, m := range f[3:] {
				c, ok := p.byName[m]
				if !ok || m == "none" {
					return nil, bad("member %q is not a witness or group defined above", m)
				}
				if seen[m] {
					return nil, bad("member %q listed twice", m)
				}
				seen[m] = true
				g.members = append(g.members, c)
			}
			switch f[2] {
			case "all":
				g.k = len(g.members)
			case "any":
				g.k = 1
			default:
				k, err := strconv.Atoi(f[2])
				if err != nil || k < 1 || k > len(g.members) || strconv.Itoa(k) != f[2] {
					return nil, bad("threshold %q: want all, any or 1..%d", f[2], len(g.members))
				}
				g.k = k
			}
			p.byName[f[1]] = g
		case "quorum":
			if len(f) != 2 {
				return nil, bad("want: quorum <name>")
			}
			if p.quorum != nil {
				return nil, bad("a second quorum line")
			}
			c, ok := p.byName[f[1]]
			if !ok {
				return nil, bad("quorum %q is not defined above", f[1])
			}
			if c == nil {
				c = &component{name: "none", witness: -1}
			}
			p.quorum = c
		default:
			return nil, bad("unknown keyword %q", f[0])
		}
	}
	if p.quorum == nil {
		return nil, errors.New("witness: policy has no quorum line")
	}
	return p, nil
}

// keyMaterial is a vkey's public key, so that the same key under two names
// counts as a duplicate.
func keyMaterial(vkey string) string {
	i := strings.LastIndexByte(vkey, '+')
	return vkey[i+1:]
}

// Quorum is the name of the policy's quorum component ("none" when no
// cosignature is needed).
func (p *Policy) Quorum() string { return p.quorum.name }

// Satisfied reports whether witnesses named (by their policy names) meet
// the quorum.
func (p *Policy) Satisfied(cosigned map[string]bool) bool { return p.quorum.satisfied(p, cosigned) }

func (c *component) satisfied(p *Policy, cosigned map[string]bool) bool {
	if c.name == "none" && c.witness < 0 && c.members == nil {
		return true
	}
	if c.witness >= 0 {
		return cosigned[p.Witnesses[c.witness].Name]
	}
	n := 0
	for _, m := range c.members {
		if m.satisfied(p, cosigned) {
			n++
		}
	}
	return n >= c.k
}

// Verified is what [Policy.Check] learned from a checkpoint.
type Verified struct {
	Checkpoint merkle.Checkpoint
	Note       *note.Note
	Log        string   // the log key that signed it
	Witnesses  []string // the policy names of the witnesses whose cosignatures verified, sorted
}

// Check verifies a signed checkpoint under the policy: a signature by log
// (or, if log is nil, by one of the policy's logs), every cosignature line
// of a known witness valid, and the valid ones meeting the quorum
// ([ErrQuorum] otherwise, with what was found).
func (p *Policy) Check(signed []byte, log note.Verifier) (*Verified, error) {
	var logs []note.Verifier
	if log != nil {
		logs = []note.Verifier{log}
	} else {
		for _, l := range p.Logs {
			logs = append(logs, l.Verifier)
		}
	}
	if len(logs) == 0 {
		return nil, errors.New("witness: no log key to check the checkpoint against")
	}
	vs := append([]note.Verifier(nil), logs...)
	for _, w := range p.Witnesses {
		vs = append(vs, w.Verifier)
	}
	n, err := note.Open(signed, note.VerifierList(vs...))
	if err != nil {
		return nil, fmt.Errorf("witness: checkpoint does not verify: %w", err)
	}
	out := &Verified{Note: n}
	cosigned := map[string]bool{}
	for _, s := range n.Sigs {
		for _, l := range logs {
			if s.Name == l.Name() && s.Hash == l.KeyHash() {
				out.Log = s.Name
			}
		}
		for _, w := range p.Witnesses {
			if s.Name == w.Verifier.Name() && s.Hash == w.Verifier.KeyHash() && !cosigned[w.Name] {
				cosigned[w.Name] = true
				out.Witnesses = append(out.Witnesses, w.Name)
			}
		}
	}
	if out.Log == "" {
		return nil, errors.New("witness: checkpoint is not signed by the log key")
	}
	c, err := merkle.ParseCheckpointText(n.Text)
	if err != nil {
		return nil, err
	}
	if c.Origin != out.Log {
		return nil, fmt.Errorf("witness: checkpoint origin %q is not the log key's name %q", c.Origin, out.Log)
	}
	out.Checkpoint = c
	sort.Strings(out.Witnesses)
	if !p.Satisfied(cosigned) {
		return out, fmt.Errorf("%w %q: cosigned by %s", ErrQuorum, p.quorum.name, listOrNone(out.Witnesses))
	}
	return out, nil
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "no known witness"
	}
	return strings.Join(names, ", ")
}

// Merge returns signed with the signature lines of extra that signed lacks
// (the same body is required). It is how cosignatures collected from
// several witnesses join one checkpoint.
func Merge(signed []byte, extra ...[]byte) ([]byte, error) {
	body, sigs, err := splitNote(signed)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, s := range sigs {
		have[s] = true
	}
	out := append([]byte(nil), body...)
	for _, s := range sigs {
		out = append(out, s...)
	}
	for _, e := range extra {
		for _, line := range bytes.SplitAfter(e, []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			if !bytes.HasPrefix(line, []byte("— ")) || line[len(line)-1] != '\n' {
				return nil, fmt.Errorf("witness: not a signature line: %q", line)
			}
			if !have[string(line)] {
				have[string(line)] = true
				out = append(out, line...)
			}
		}
	}
	return out, nil
}

// splitNote splits a signed note into its text plus the blank line, and
// its signature lines (each with its newline).
func splitNote(signed []byte) (body []byte, sigs []string, err error) {
	i := bytes.LastIndex(signed, []byte("\n\n"))
	if i < 0 {
		return nil, nil, errors.New("witness: malformed note: no signature block")
	}
	body, rest := signed[:i+2], signed[i+2:]
	for _, line := range bytes.SplitAfter(rest, []byte("\n")) {
		if len(line) > 0 {
			sigs = append(sigs, string(line))
		}
	}
	return body, sigs, nil
}
