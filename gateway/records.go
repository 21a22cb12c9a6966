package gateway

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	graphql "github.com/graph-gophers/graphql-go"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
)

// recordOut is a Record of the SDL.
type recordOut struct {
	Department    string
	Type          string
	Key           []string
	Op            string
	SchemaVersion int32
	Time          graphql.Time
	Leaf          Uint64
	Fields        []*fieldOut
	Envelope      string
	KeyID         string
	Signature     string
	Proof         string
}

// fieldOut is a Field of the SDL.
type fieldOut struct {
	Name       string
	Value      *string
	Disclosure *string
	Digest     string
	Redacted   bool
}

// target names what a data query is about.
type target struct {
	department, recordType string
	rt                     *schema.RecordType
	store                  store.Reader
	subject                string // subject tag of the citizen the query names, or ""
}

// resolveTarget checks department and type and canonicalises the subject.
func (g *Gateway) resolveTarget(st *reqState, department, recordType string, subject *string) (*target, error) {
	if _, ok := g.deps.Catalog.Department(department); !ok {
		return nil, badRequest(fmt.Sprintf("unknown department %q", department))
	}
	rt, err := g.deps.Catalog.RecordType(department, recordType, 0)
	if err != nil {
		return nil, badRequest(fmt.Sprintf("department %s has no record type %q", department, recordType))
	}
	t := &target{department: department, recordType: rt.Name, rt: rt, store: g.deps.Stores[department]}
	if subject != nil {
		tag, err := g.subjectTag(*subject)
		if err != nil {
			return nil, err
		}
		t.subject = tag
		st.subject(tag)
	}
	return t, nil
}

// subjectTag validates a citizen id and returns its subject tag.
func (g *Gateway) subjectTag(citizenID string) (string, error) {
	canon, err := schema.Field{Name: "citizenId", Type: schema.TypeCitizenID}.Canonical(citizenID)
	if err != nil {
		return "", badRequest("citizenId is not a valid resident identity number (GB 11643)")
	}
	return schema.SubjectTag(g.cfg.LedgerSecret, canon), nil
}

// canonicalKey checks key against the record type's key fields.
func canonicalKey(rt *schema.RecordType, key []string) ([]string, error) {
	if len(key) != len(rt.Key) {
		return nil, badRequest(fmt.Sprintf("type %s is keyed by %d field(s) (%v), got %d value(s)", rt.Name, len(rt.Key), rt.Key, len(key)))
	}
	out := make([]string, len(key))
	for i, name := range rt.Key {
		f, _ := rt.Field(name)
		c, err := f.Canonical(key[i])
		if err != nil {
			return nil, badRequest(fmt.Sprintf("key field %s: %v", name, err))
		}
		out[i] = c
	}
	return out, nil
}

// typeDenial is the reason a consumer has no permission at all on
// owner/type: the last grant event that concerned it decides.
func (a *authz) typeDenial(owner, recordType string) string {
	reason := "no-grant"
	for _, ev := range a.events {
		if ev.Owner != owner || ev.Type != recordType {
			continue
		}
		switch ev.Kind {
		case schema.KindGrant:
			reason = "expired"
		case schema.KindRevoke:
			if reason != "no-grant" {
				reason = "revoked"
			}
		}
	}
	return reason
}

// requireType fails with a logged denial when the caller has no
// permission in force on the target's type.
func (st *reqState) requireType(a *authz, t *target) error {
	if a.mayRead(t.department, t.recordType) {
		return nil
	}
	reason := a.typeDenial(t.department, t.recordType)
	st.deny(schema.AccessDenial{Department: t.department, Type: t.recordType, Reason: reason})
	return denied(reason, fmt.Sprintf("%s has granted %s nothing of %s for purpose %q (%s)",
		t.department, a.consumer, t.recordType, a.purpose, reasonText(reason)))
}

func reasonText(reason string) string {
	switch reason {
	case "no-grant":
		return "no grant"
	case "expired":
		return "the grant has expired"
	case "revoked":
		return "the grant was revoked"
	case "row-condition":
		return "the grant covers only records about the citizen the query names"
	}
	return reason
}

// errNothingDisclosable marks a record version of which the caller may
// see no field; the denial is already recorded.
type errNothingDisclosable struct{ reason string }

func (e *errNothingDisclosable) Error() string { return "nothing disclosable: " + e.reason }

// buildRecord assembles one record version for the caller: the fields it
// may see with value and disclosure, the others redacted, the signed
// envelope and a proof. It records what was disclosed and denied. If no
// field may be disclosed it returns *errNothingDisclosable.
func (g *Gateway) buildRecord(ctx context.Context, st *reqState, a *authz, t *target, rec store.Record) (*recordOut, error) {
	signed, size, root := st.signed, st.cp.Size, st.cp.Hash
	if rec.Leaf >= size {
		// Projected after this request took its checkpoint: prove it
		// against the newer one.
		s2, cp2, err := g.checkpoint()
		if err != nil {
			return nil, err
		}
		if rec.Leaf >= cp2.Size {
			return nil, fmt.Errorf("gateway: record at leaf %d is past the log's checkpoint %d", rec.Leaf, cp2.Size)
		}
		signed, size, root = s2, cp2.Size, cp2.Hash
	}
	ents, err := g.deps.Log.Entries(ctx, rec.Leaf, 1)
	if err != nil {
		return nil, fmt.Errorf("gateway: couldn't read entry %d: %w", rec.Leaf, err)
	}
	raw := ents[0]
	env, err := schema.DecodeEnvelope(raw)
	if err != nil || env.Kind != schema.KindRecordChange || env.Department != rec.Department {
		return nil, fmt.Errorf("gateway: entry %d is not the record change the store says it is", rec.Leaf)
	}
	names := slices.Sorted(maps.Keys(env.Change.Digests))
	d := a.decide(rec.Department, rec.Type, names, rec.Subjects, t.subject)

	out := &recordOut{
		Department: rec.Department, Type: rec.Type, Key: rec.Key, Op: string(rec.Op),
		SchemaVersion: int32(rec.SchemaVersion), Time: graphql.Time{Time: rec.Time}, Leaf: Uint64(rec.Leaf),
		Envelope: string(raw), KeyID: env.KeyID, Signature: env.Sig,
	}
	var disclosed []string
	byReason := map[string][]string{}
	for _, name := range names {
		f := &fieldOut{Name: name, Digest: env.Change.Digests[name], Redacted: true}
		out.Fields = append(out.Fields, f)
		if !d.granted[name] {
			byReason[d.denied[name]] = append(byReason[d.denied[name]], name)
			continue
		}
		v, ok := rec.Value(name)
		if !ok || v.Disclosure == "" || rec.Erased {
			byReason["erased"] = append(byReason["erased"], name)
			continue
		}
		if (schema.Disclosure{Encoded: v.Disclosure}).Digest() != f.Digest {
			// The store does not hold what the owner signed: never
			// hand it out.
			g.logger.Error("gateway: stored disclosure does not match the signed digest", "leaf", rec.Leaf, "field", name)
			byReason["integrity"] = append(byReason["integrity"], name)
			continue
		}
		text, disc := v.Text, v.Disclosure
		f.Value, f.Disclosure, f.Redacted = &text, &disc, false
		disclosed = append(disclosed, name)
	}
	for _, reason := range slices.Sorted(maps.Keys(byReason)) {
		st.deny(schema.AccessDenial{Department: rec.Department, Type: rec.Type, Leaf: rec.Leaf, Fields: byReason[reason], Reason: reason})
	}
	if len(disclosed) == 0 && rec.Op != schema.OpDelete {
		reason := "no-grant"
		if len(byReason["row-condition"]) > 0 {
			reason = "row-condition"
		} else if len(byReason) > 0 {
			reason = slices.Sorted(maps.Keys(byReason))[0]
		}
		return nil, &errNothingDisclosable{reason: reason}
	}
	st.disclose(rec.Leaf, disclosed, rec.Subjects)

	hashes, err := g.deps.Log.InclusionProof(ctx, rec.Leaf, size)
	if err != nil {
		return nil, fmt.Errorf("gateway: couldn't prove entry %d: %w", rec.Leaf, err)
	}
	// Never hand out a proof that does not verify (a corrupt tile, or a
	// remote log that served something else).
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, rec.Leaf, size, merkle.LeafHash(raw), hashes, root); err != nil {
		return nil, fmt.Errorf("gateway: entry %d does not verify against checkpoint %d: %w", rec.Leaf, size, err)
	}
	out.Proof = string((&merkle.Proof{Index: rec.Leaf, Hashes: hashes, Checkpoint: signed}).Encode())
	return out, nil
}

// storeError turns a store failure into a GraphQL error naming the
// department.
func (g *Gateway) storeError(department string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		g.metrics.storeErrors.WithLabelValues(department).Inc()
		return &Error{Code: codeTimeout, Msg: fmt.Sprintf("department %s did not answer in time", department), Extra: map[string]any{"department": department}}
	}
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Code: codeNotFound, Msg: "no such record"}
	}
	var be *store.BatchError
	if errors.Is(err, store.ErrInvalid) && !errors.As(err, &be) {
		return badRequest(err.Error())
	}
	g.metrics.storeErrors.WithLabelValues(department).Inc()
	g.logger.Warn("gateway: store read failed", "department", department, "err", err)
	return &Error{Code: codeUnavailable, Msg: fmt.Sprintf("department %s's store is unavailable", department), Extra: map[string]any{"department": department}}
}
