package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"maps"
	"slices"
	"time"

	"github.com/crossledger/crossledger/schema"
)

// Reserved values of access entries written for requests that were denied
// before the caller was known.
const (
	unauthenticatedConsumer = "unauthenticated"
	anonymousUser           = "anonymous"
	noPurpose               = "none"
)

// accessBudget bounds the estimated encoded size of one access entry's
// disclosed and denied lists; a request that discloses more is logged as
// several entries (schema.MaxEntrySize is 64 KiB).
const accessBudget = 40 << 10

// accessEntries turns what a request disclosed and was denied into one or
// more access bodies (more only when one would be too large).
func (st *reqState) accessEntries(query string) []*schema.Access {
	st.mu.Lock()
	defer st.mu.Unlock()
	base := schema.Access{
		Consumer: st.id.Department,
		User:     st.id.User,
		Purpose:  st.purpose,
		CaseRef:  st.caseRef,
		Query:    st.g.queryDigest(query),
	}
	if !st.authenticated || base.Consumer == "" {
		base.Consumer, base.User = unauthenticatedConsumer, anonymousUser
	}
	if len(base.User) > 256 {
		base.User = base.User[:256]
	}
	if base.Purpose == "" {
		base.Purpose = st.reads
	}
	if base.Purpose == "" {
		base.Purpose = noPurpose
	}
	base.Subjects = slices.Sorted(maps.Keys(st.subjects))

	var items []schema.AccessItem
	for _, leaf := range slices.Sorted(maps.Keys(st.disclosed)) {
		items = append(items, schema.AccessItem{Leaf: leaf, Fields: st.disclosed[leaf]})
	}
	denials := slices.Clone(st.denials)
	for i := range denials {
		slices.Sort(denials[i].Fields)
		denials[i].Fields = slices.Compact(denials[i].Fields)
	}

	var out []*schema.Access
	cur, size := base, 0
	flush := func() {
		a := cur
		out = append(out, &a)
		cur, size = base, 0
	}
	for _, it := range items {
		n := 24 + namesSize(it.Fields)
		if size+n > accessBudget && size > 0 {
			flush()
		}
		cur.Disclosed = append(cur.Disclosed, it)
		size += n
	}
	for _, d := range denials {
		n := 64 + len(d.Department) + len(d.Type) + len(d.Reason) + namesSize(d.Fields)
		if size+n > accessBudget && size > 0 {
			flush()
		}
		cur.Denied = append(cur.Denied, d)
		size += n
	}
	if size > 0 || len(out) == 0 {
		flush()
	}
	return out
}

func namesSize(ns []string) int {
	n := 0
	for _, s := range ns {
		n += len(s) + 3
	}
	return n
}

// queryDigest names the query text in access entries without copying
// it: a keyed hash (HMAC-SHA256 under a key derived from the ledger
// secret), because the text may hold a citizen id, and an unkeyed hash of
// a known query template with an 18-digit id in it can be reversed by
// trying every id. The entry is public; only the ledger's holders can
// check a query against it.
func (g *Gateway) queryDigest(q string) string {
	m := hmac.New(sha256.New, g.queryKey)
	m.Write([]byte(q))
	return "hmac-sha256:" + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// writeAccess writes the request's access entries and returns their ids.
func (g *Gateway) writeAccess(ctx context.Context, st *reqState, query string) ([]string, error) {
	start := time.Now()
	defer func() { g.metrics.accessWrite.Observe(time.Since(start).Seconds()) }()
	var ids []string
	for _, a := range st.accessEntries(query) {
		for _, d := range a.Denied {
			g.metrics.denials.WithLabelValues(d.Reason).Inc()
		}
		id, err := g.deps.Access.WriteAccess(ctx, a)
		if err != nil {
			g.metrics.accessFailures.Inc()
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}
