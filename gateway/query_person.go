package gateway

// The person resolver: everything the caller may see about one citizen, across departments.

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/crossledger/crossledger/schema"
)

type personArgs struct {
	CitizenID string
	Purpose   *string
	CaseRef   *string
}

type personOut struct {
	Subject     string
	Departments []*personDept
}

type personDept struct {
	Department string
	records    []*recordOut
	err        error
}

// Records is nullable: a department whose store failed has an error here.
func (p *personDept) Records() (*[]*recordOut, error) {
	if p.err != nil {
		return nil, p.err
	}
	return &p.records, nil
}

func (r *resolver) Person(ctx context.Context, args personArgs) (*personOut, error) {
	st, a, err := r.dataQuery(ctx, "person", "", args.Purpose, args.CaseRef)
	if err != nil {
		return nil, err
	}
	tag, err := r.g.subjectTag(args.CitizenID)
	if err != nil {
		return nil, err
	}
	st.subject(tag)
	out := &personOut{Subject: tag}
	var owners []string
	for _, d := range r.g.deps.Catalog.Departments() {
		if a.anyGrant(d) {
			owners = append(owners, d)
		}
	}
	if len(owners) == 0 {
		st.deny(schema.AccessDenial{Department: st.id.Department, Reason: "no-grant"})
		return nil, denied("no-grant", fmt.Sprintf("no department has granted %s anything for purpose %q", a.consumer, a.purpose))
	}
	fctx, cancel := context.WithTimeout(ctx, r.g.cfg.FederationTimeout)
	defer cancel()
	out.Departments = make([]*personDept, len(owners))
	var wg sync.WaitGroup
	for i, d := range owners {
		out.Departments[i] = &personDept{Department: d}
		wg.Add(1)
		go func(pd *personDept) {
			defer wg.Done()
			pd.records, pd.err = r.personRecords(fctx, st, a, pd.Department, tag)
		}(out.Departments[i])
	}
	wg.Wait()
	return out, nil
}

// personRecords reads one department's records about a citizen.
func (r *resolver) personRecords(ctx context.Context, st *reqState, a *authz, department, tag string) ([]*recordOut, error) {
	s := r.g.deps.Stores[department]
	recs, err := s.BySubject(ctx, department, tag)
	if err != nil {
		return nil, r.g.storeError(department, err)
	}
	out := []*recordOut{}
	for _, rec := range recs {
		if len(out) >= r.g.cfg.MaxRecords {
			break
		}
		if !a.mayRead(department, rec.Type) {
			continue // types the caller has no grant on are not part of the answer
		}
		rt, err := r.g.deps.Catalog.RecordType(department, rec.Type, 0)
		if err != nil {
			continue
		}
		t := &target{department: department, recordType: rec.Type, rt: rt, store: s, subject: tag}
		ro, err := r.g.buildRecord(ctx, st, a, t, rec)
		var nd *errNothingDisclosable
		switch {
		case errors.As(err, &nd):
			continue
		case err != nil:
			return nil, &Error{Code: codeUnavailable, Msg: fmt.Sprintf("department %s: %v", department, err), Extra: map[string]any{"department": department}}
		}
		out = append(out, ro)
	}
	return out, nil
}
