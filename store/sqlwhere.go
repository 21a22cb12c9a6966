package store

import (
	"fmt"
	"strings"
	"time"
)

// The SQL stores (SQLite, ClickHouse) write some conditions the same way,
// with ? placeholders; these build them once. What differs between the
// dialects (array functions, time columns) is passed in.

// Where accumulates " AND cond" clauses and their arguments.
type Where struct {
	b    strings.Builder
	Args []any
}

// And adds the condition cond with its arguments.
func (w *Where) And(cond string, args ...any) {
	w.b.WriteString(" AND " + cond)
	w.Args = append(w.Args, args...)
}

// Eq adds "col = ?" when v is not empty (empty matches everything).
func (w *Where) Eq(col, v string) {
	if v != "" {
		w.And(col+" = ?", v)
	}
}

// String is the clauses added so far, each starting with " AND ".
func (w *Where) String() string { return w.b.String() }

// GrantWhere is the condition on grant rows that q asks for: equal owner,
// consumer, purpose and type where q names them.
func GrantWhere(q GrantQuery) *Where {
	w := &Where{}
	w.Eq("owner", q.Owner)
	w.Eq("consumer", q.Consumer)
	w.Eq("purpose", q.Purpose)
	w.Eq("type", q.Type)
	return w
}

// AccessWhere is the condition on access rows that q asks for, after
// "leaf >= ?" (q.FromLeaf): consumer, time window (each bound passed
// through timeArg, the store's time representation) and subject, whose
// condition subjectCond (one ? for the tag) is the store's own.
func AccessWhere(q AccessQuery, timeArg func(time.Time) any, subjectCond string) *Where {
	w := &Where{Args: []any{q.FromLeaf}}
	w.Eq("consumer", q.Consumer)
	if !q.From.IsZero() {
		w.And("time >= ?", timeArg(q.From))
	}
	if !q.To.IsZero() {
		w.And("time < ?", timeArg(q.To))
	}
	if q.Subject != "" {
		w.And(subjectCond, q.Subject)
	}
	return w
}

// Bound is one side of a Range filter: Op is ">=" or "<=", Ord the
// bound's order key (see [OrderKey]).
type Bound struct {
	Op, Ord string
}

// RangeBounds are the bounds a Range filter sets (none, one or both).
func RangeBounds(f Filter) ([]Bound, error) {
	var out []Bound
	for _, b := range []struct{ v, op string }{{f.Min, ">="}, {f.Max, "<="}} {
		if b.v == "" {
			continue
		}
		ord, err := OrderKey(f.Type, b.v)
		if err != nil {
			return nil, fmt.Errorf("%w: filter on %q: %v", ErrInvalid, f.Field, err)
		}
		out = append(out, Bound{b.op, ord})
	}
	return out, nil
}
