package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// Write prints the report: as one JSON object, or as text for people.
func (rep *Report) Write(w io.Writer, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(rep)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	fmt.Fprintf(w, "log %s at %s\n", rep.Log, rep.URL)
	if c := rep.Served; c != nil {
		fmt.Fprintf(w, "checkpoint: size %d root %s\n", c.Size, c.Root)
	}
	if rep.Quorum != "" {
		fmt.Fprintf(w, "witnesses: %s (quorum %s)\n", listOr(rep.Witnesses, "none"), rep.Quorum)
	}
	if c := rep.Previous; c != nil {
		fmt.Fprintf(w, "previously verified: size %d root %s\n", c.Size, c.Root)
	} else {
		fmt.Fprintf(w, "previously verified: nothing (a fresh state)\n")
	}
	fmt.Fprintf(w, "checked entries [%d, %d) with %d HTTP requests, %d bytes\n", rep.From, rep.To, rep.Requests, rep.Bytes)
	if len(rep.Departments) > 0 {
		fmt.Fprintf(w, "entries by signer (all verified so far):\n")
		ids := make([]string, 0, len(rep.Departments))
		for id := range rep.Departments {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			d := rep.Departments[id]
			kinds := make([]string, 0, len(d.Kinds))
			for k, n := range d.Kinds {
				kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
			}
			sort.Strings(kinds)
			fmt.Fprintf(w, "  %-18s %s (last seq %d)\n", id, strings.Join(kinds, ", "), d.Seq)
		}
	}
	if rep.Undecodable > 0 {
		fmt.Fprintf(w, "  %-18s %d\n", "(not envelopes)", rep.Undecodable)
	}
	if rep.Evidence != nil {
		rep.Evidence.Write(w)
	}
	if rep.ProblemCount > 0 {
		fmt.Fprintf(w, "%d %s (%d found by this run):\n", rep.ProblemCount, plural(rep.ProblemCount), rep.NewProblems)
		for _, p := range rep.Problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
		if n := rep.ProblemCount - uint64(len(rep.Problems)); n > 0 {
			fmt.Fprintf(w, "  … and %d more\n", n)
		}
		return nil
	}
	fmt.Fprintf(w, "ok: the log is consistent with what this state verified, every entry is canonical and signed by who may sign it, every seq is in order, and the tiles and root match the entries\n")
	return nil
}

// Write prints the evidence of a rollback or fork with both signed
// checkpoints.
func (ev *Evidence) Write(w io.Writer) {
	fmt.Fprintf(w, "!!! %s: %s\n", strings.ToUpper(ev.Kind), ev.Reason)
	for _, c := range []struct {
		name string
		info *CheckpointInfo
	}{{"verified before", ev.Verified}, {"served now", ev.Served}} {
		if c.info == nil {
			continue
		}
		fmt.Fprintf(w, "!!! %s (size %d):\n", c.name, c.info.Size)
		for _, line := range strings.Split(strings.TrimRight(c.info.Signed, "\n"), "\n") {
			fmt.Fprintf(w, "    %s\n", line)
		}
	}
}

func listOr(xs []string, none string) string {
	if len(xs) == 0 {
		return none
	}
	return strings.Join(xs, ", ")
}

// Progress shows an audit's progress (Config.Progress): a bar on a
// terminal, a line every 10 % otherwise.
type Progress struct {
	w        io.Writer
	tty      bool
	start    time.Time
	last     time.Time
	lastTick int
	drawn    bool
}

// NewProgress reports on w (a bar if w is a terminal).
func NewProgress(w io.Writer) *Progress {
	tty := false
	if fh, ok := w.(*os.File); ok {
		if st, err := fh.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &Progress{w: w, tty: tty, start: time.Now(), lastTick: -1}
}

// Update reports done of total entries.
func (p *Progress) Update(done, total uint64) {
	if total == 0 {
		return
	}
	pct := int(done * 100 / total)
	rate := float64(done) / max(time.Since(p.start).Seconds(), 1e-9)
	if p.tty {
		if time.Since(p.last) < 100*time.Millisecond && done != total {
			return
		}
		p.last, p.drawn = time.Now(), true
		const width = 30
		fill := pct * width / 100
		fmt.Fprintf(p.w, "\r[%s%s] %3d%% %d/%d entries, %.0f/s ", strings.Repeat("#", fill), strings.Repeat("-", width-fill), pct, done, total, rate)
		return
	}
	if tick := pct / 10; tick > p.lastTick {
		p.lastTick = tick
		fmt.Fprintf(p.w, "audit: %3d%% %d/%d entries, %.0f/s\n", pct, done, total, rate)
	}
}

// Finish ends the bar's line.
func (p *Progress) Finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

func plural(n uint64) string {
	if n == 1 {
		return "problem"
	}
	return "problems"
}
