package verify

import (
	"fmt"
	"io"
	"strings"
)

// Write prints the report for people: counts, the checkpoints relied
// on (with the witnesses that vouched), GraphQL errors, every failure.
// name names the response.
func (rep *Report) Write(w io.Writer, name string) {
	fmt.Fprintf(w, "%s: %d %s, %d disclosed %s, %d redacted %s\n", name,
		rep.Records, plural(rep.Records, "record", "records"),
		rep.DisclosedFields, plural(rep.DisclosedFields, "field", "fields"),
		rep.RedactedFields, plural(rep.RedactedFields, "field", "fields"))
	switch len(rep.Checkpoints) {
	case 0:
		fmt.Fprintf(w, "checkpoint: none verified\n")
	case 1:
		c := rep.Checkpoints[0]
		fmt.Fprintf(w, "checkpoint: %s size %d root %s%s\n", c.Origin, c.Size, c.RootHash, vouched(c))
	default:
		fmt.Fprintf(w, "checkpoints (this response does not prove them consistent; ask the log for a consistency proof):\n")
		for _, c := range rep.Checkpoints {
			fmt.Fprintf(w, "  %s size %d root %s (%d %s)%s\n", c.Origin, c.Size, c.RootHash, c.Records, plural(c.Records, "record", "records"), vouched(c))
		}
	}
	if rep.AccessID != "" {
		fmt.Fprintf(w, "access entry: %s\n", rep.AccessID)
	}
	if len(rep.Errors) > 0 {
		fmt.Fprintf(w, "note: the response carries %d GraphQL %s (those parts of the answer are missing, not unverified):\n", len(rep.Errors), plural(len(rep.Errors), "error", "errors"))
		for _, e := range rep.Errors {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
	for _, f := range rep.Failures {
		fmt.Fprintf(w, "FAIL %s: %s\n", f.Path, f.Reason)
	}
	if rep.OK() {
		fmt.Fprintf(w, "ok: every record is signed by its department, every value shown is the one it signed, and every record is in the log\n")
	}
}

// vouched names the witnesses that cosigned a checkpoint (with --policy).
func vouched(c Checkpoint) string {
	if len(c.Witnesses) == 0 {
		return ""
	}
	return ", cosigned by " + strings.Join(c.Witnesses, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
