package gateway

// Resolvers of record, history and records: one record type of one department.

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
)

type recordArgs struct {
	Department string
	Type       string
	Key        []string
	Subject    *string
	Purpose    *string
	CaseRef    *string
}

func (r *resolver) Record(ctx context.Context, args recordArgs) (*recordOut, error) {
	st, a, t, key, err := r.keyed(ctx, "record", args)
	if err != nil {
		return nil, err
	}
	rec, err := t.store.Current(ctx, t.department, t.recordType, key)
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, r.g.storeError(t.department, err)
	}
	if a.scope(t.department, t.recordType) == subjectRows && (!found || !aboutSubject(rec, t.subject)) {
		// A row the condition withholds answers exactly as a row that
		// does not exist.
		return nil, st.withheld(t, key)
	}
	if !found {
		return nil, nil
	}
	out, err := r.g.buildRecord(ctx, st, a, t, rec)
	return out, nothingErr(err, t)
}

func (r *resolver) History(ctx context.Context, args recordArgs) ([]*recordOut, error) {
	st, a, t, key, err := r.keyed(ctx, "history", args)
	if err != nil {
		return nil, err
	}
	recs, err := t.store.History(ctx, t.department, t.recordType, key)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, r.g.storeError(t.department, err)
	}
	if a.scope(t.department, t.recordType) == subjectRows {
		// Only the versions about the named citizen, and a delete that
		// ends one of them; versions about others (the title changed
		// hands) are not part of the answer, and not of the public access
		// entry either.
		var visible []store.Record
		prev := false
		for _, rec := range recs {
			ok := aboutSubject(rec, t.subject) || rec.Op == schema.OpDelete && prev
			if ok {
				visible = append(visible, rec)
			}
			prev = ok
		}
		if len(visible) == 0 {
			return nil, st.withheld(t, key)
		}
		recs = visible
	}
	if len(recs) > r.g.cfg.MaxRecords {
		recs = recs[len(recs)-r.g.cfg.MaxRecords:]
	}
	out := make([]*recordOut, 0, len(recs))
	var firstDenial error
	for _, rec := range recs {
		ro, err := r.g.buildRecord(ctx, st, a, t, rec)
		var nd *errNothingDisclosable
		switch {
		case errors.As(err, &nd):
			if firstDenial == nil {
				firstDenial = nothingErr(err, t)
			}
			continue
		case err != nil:
			return nil, err
		}
		out = append(out, ro)
	}
	if len(out) == 0 && firstDenial != nil {
		return nil, firstDenial
	}
	return out, nil
}

// keyed starts the keyed query op (record, history): the request's
// authorization, as dataQuery gives it, then the target and its
// canonical key, once the caller is found to have some permission on it.
func (r *resolver) keyed(ctx context.Context, op string, args recordArgs) (*reqState, *authz, *target, []string, error) {
	st, a, err := r.dataQuery(ctx, op, args.Department, args.Purpose, args.CaseRef)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	t, err := r.g.resolveTarget(st, args.Department, args.Type, args.Subject)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	key, err := canonicalKey(t.rt, args.Key)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if err := st.requireType(a, t); err != nil {
		return nil, nil, nil, nil, err
	}
	return st, a, t, key, nil
}

// nothingErr turns errNothingDisclosable into the denial the caller sees.
func nothingErr(err error, t *target) error {
	var nd *errNothingDisclosable
	if errors.As(err, &nd) {
		if nd.reason == "row-condition" {
			return rowConditionErr(t)
		}
		return denied(nd.reason, fmt.Sprintf("no field of this %s record may be disclosed to you (%s)", t.recordType, reasonText(nd.reason)))
	}
	return err
}

// rowConditionErr is the one answer to a keyed query on a row the row
// condition withholds, whether or not the row exists. Its text depends on
// the query alone.
func rowConditionErr(t *target) error {
	if t.subject == "" {
		return denied("row-condition", fmt.Sprintf("%s grants %s records only about the citizen a query names: give subject:", t.department, t.recordType))
	}
	return denied("row-condition", fmt.Sprintf("no %s record with this key about the citizen named by subject: is visible to you (the grant covers only records about that citizen)", t.recordType))
}

// aboutSubject reports whether rec names the citizen whose tag is subject.
func aboutSubject(rec store.Record, subject string) bool {
	return subject != "" && slices.Contains(rec.Subjects, subject)
}

type filterIn struct {
	Field  string
	Eq     *string
	Prefix *string
	Min    *string
	Max    *string
}

type recordsArgs struct {
	Department string
	Type       string
	Where      *[]filterIn
	First      int32
	After      *string
	Subject    *string
	Purpose    *string
	CaseRef    *string
}

type recordConnection struct {
	Edges    []*recordEdge
	PageInfo *pageInfo
}

type recordEdge struct {
	Cursor string
	Node   *recordOut
}

type pageInfo struct {
	HasNextPage bool
	EndCursor   *string
}

// maxPage bounds first on lists.
const maxPage = 100

func (r *resolver) Records(ctx context.Context, args recordsArgs) (*recordConnection, error) {
	st, a, err := r.dataQuery(ctx, "records", args.Department, args.Purpose, args.CaseRef)
	if err != nil {
		return nil, err
	}
	t, err := r.g.resolveTarget(st, args.Department, args.Type, args.Subject)
	if err != nil {
		return nil, err
	}
	if err := st.requireType(a, t); err != nil {
		return nil, err
	}
	first := int(args.First)
	if first < 1 || first > maxPage {
		return nil, badRequest(fmt.Sprintf("first must be between 1 and %d", maxPage))
	}
	// With subject: only that citizen's rows, restricted in the store
	// before paging, so no page or cursor steps over anyone else's.
	cid := connectionID(a.consumer, t.department, t.recordType, t.subject)
	q := store.ListQuery{Limit: first, Subject: t.subject}
	if args.After != nil {
		if q.After, err = r.g.cursors.open(cid, *args.After); err != nil {
			return nil, badRequest(err.Error())
		}
	}
	if args.Where != nil {
		// A filter may name only a field the caller sees on every row it
		// could match; anything else reveals values one query at a time.
		ok := a.filterable(t.department, t.rt, t.subject != "")
		for _, w := range *args.Where {
			f, exists := t.rt.Field(w.Field)
			if !exists {
				return nil, badRequest(fmt.Sprintf("type %s has no field %q", t.recordType, w.Field))
			}
			if !ok[w.Field] {
				st.deny(schema.AccessDenial{Department: t.department, Type: t.recordType, Fields: []string{w.Field}, Reason: "filter-not-granted"})
				msg := fmt.Sprintf("you may not filter on %s.%s: it is not granted to you for this purpose", t.recordType, w.Field)
				if t.subject == "" && a.filterable(t.department, t.rt, true)[w.Field] {
					msg = fmt.Sprintf("you may filter on %s.%s only together with subject: (it is granted only for records about the citizen a query names)", t.recordType, w.Field)
				}
				return nil, denied("filter-not-granted", msg)
			}
			sf, err := filterOf(f, w)
			if err != nil {
				return nil, err
			}
			q.Filters = append(q.Filters, sf)
		}
	}
	conn := &recordConnection{Edges: []*recordEdge{}, PageInfo: &pageInfo{}}
	if a.scope(t.department, t.recordType) == subjectRows && t.subject == "" {
		// Every row is withheld: the answer is that of an empty type,
		// and the store is not asked.
		st.deny(schema.AccessDenial{Department: t.department, Type: t.recordType, Reason: "row-condition"})
		// The answer depends on the grants alone, so the clerk may be told
		// why it is empty.
		st.warn(fmt.Sprintf("records(%s, %s): %s grants %s records only about the citizen a query names; give subject: to see that citizen's",
			t.department, t.recordType, t.department, t.recordType))
		return conn, nil
	}
	page, err := t.store.List(ctx, t.department, t.recordType, q)
	if err != nil {
		return nil, r.g.storeError(t.department, err)
	}
	conn.PageInfo.HasNextPage = page.Next != ""
	for _, rec := range page.Records {
		ro, err := r.g.buildRecord(ctx, st, a, t, rec)
		var nd *errNothingDisclosable
		switch {
		case errors.As(err, &nd):
			continue // the denial is logged; the row is left out
		case err != nil:
			return nil, err
		}
		conn.Edges = append(conn.Edges, &recordEdge{Cursor: r.g.cursors.seal(cid, store.EncodeCursor(store.EncodeKey(rec.Key))), Node: ro})
	}
	if page.Next != "" {
		end := r.g.cursors.seal(cid, page.Next)
		conn.PageInfo.EndCursor = &end
	} else if n := len(conn.Edges); n > 0 {
		end := conn.Edges[n-1].Cursor
		conn.PageInfo.EndCursor = &end
	}
	return conn, nil
}

// filterOf turns one SDL filter into a store filter, canonicalising its
// values.
func filterOf(f schema.Field, w filterIn) (store.Filter, error) {
	set := 0
	for _, p := range []*string{w.Eq, w.Prefix} {
		if p != nil {
			set++
		}
	}
	if w.Min != nil || w.Max != nil {
		set++
	}
	if set != 1 {
		return store.Filter{}, badRequest(fmt.Sprintf("filter on %s: give exactly one of eq, prefix, or min/max", w.Field))
	}
	canon := func(s string) (string, error) {
		c, err := f.Canonical(s)
		if err != nil {
			return "", badRequest(fmt.Sprintf("filter on %s: %v", w.Field, err))
		}
		return c, nil
	}
	switch {
	case w.Eq != nil:
		c, err := canon(*w.Eq)
		return store.Filter{Field: w.Field, Op: store.Equal, Type: f.Type, Value: c}, err
	case w.Prefix != nil:
		if len(*w.Prefix) > 256 {
			return store.Filter{}, badRequest("prefix is limited to 256 bytes")
		}
		return store.Filter{Field: w.Field, Op: store.Prefix, Type: f.Type, Value: *w.Prefix}, nil
	}
	sf := store.Filter{Field: w.Field, Op: store.Range, Type: f.Type}
	var err error
	if w.Min != nil {
		if sf.Min, err = canon(*w.Min); err != nil {
			return sf, err
		}
	}
	if w.Max != nil {
		if sf.Max, err = canon(*w.Max); err != nil {
			return sf, err
		}
	}
	return sf, nil
}
