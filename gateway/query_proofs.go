package gateway

// Resolvers of the log itself: the checkpoint and proofs (public, not logged).

import (
	"context"
	"encoding/base64"
	"fmt"
)

type checkpointOut struct {
	Origin   string
	Size     Uint64
	RootHash string
	Signed   string
}

func (r *resolver) Checkpoint(ctx context.Context) (*checkpointOut, error) {
	st, err := authenticated(ctx, "checkpoint")
	if err != nil {
		return nil, err
	}
	return &checkpointOut{Origin: st.cp.Origin, Size: Uint64(st.cp.Size),
		RootHash: base64.StdEncoding.EncodeToString(st.cp.Hash), Signed: string(st.signed)}, nil
}

type inclusionOut struct {
	Index, Size Uint64
	Hashes      []string
}

func (r *resolver) InclusionProof(ctx context.Context, args struct{ Index, Size Uint64 }) (*inclusionOut, error) {
	hs, err := r.proof(ctx, "inclusionProof", "index", "size", args.Index, args.Size, true, r.g.deps.Log.InclusionProof)
	if err != nil {
		return nil, err
	}
	return &inclusionOut{Index: args.Index, Size: args.Size, Hashes: hs}, nil
}

type consistencyOut struct {
	From, To Uint64
	Hashes   []string
}

func (r *resolver) ConsistencyProof(ctx context.Context, args struct{ From, To Uint64 }) (*consistencyOut, error) {
	hs, err := r.proof(ctx, "consistencyProof", "from", "to", args.From, args.To, false, r.g.deps.Log.ConsistencyProof)
	if err != nil {
		return nil, err
	}
	return &consistencyOut{From: args.From, To: args.To, Hashes: hs}, nil
}

// proof answers the proof query op between lo and hi (named loName and
// hiName in the error) with prove, the hashes in base64. hi may be at
// most the current checkpoint's size, and lo at most hi, or, strict,
// below it.
func (r *resolver) proof(ctx context.Context, op, loName, hiName string, lo, hi Uint64, strict bool,
	prove func(ctx context.Context, lo, hi uint64) ([][]byte, error)) ([]string, error) {
	st, err := authenticated(ctx, op)
	if err != nil {
		return nil, err
	}
	if uint64(hi) > st.cp.Size || lo > hi || strict && lo == hi {
		cmp := "≤"
		if strict {
			cmp = "<"
		}
		return nil, badRequest(fmt.Sprintf("need %s %s %s ≤ %d (the current checkpoint)", loName, cmp, hiName, st.cp.Size))
	}
	hs, err := prove(ctx, uint64(lo), uint64(hi))
	if err != nil {
		return nil, err
	}
	return b64s(hs), nil
}

func b64s(hs [][]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = base64.StdEncoding.EncodeToString(h)
	}
	return out
}
