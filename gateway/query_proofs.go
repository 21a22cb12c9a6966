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
	st, err := authenticated(ctx, "inclusionProof")
	if err != nil {
		return nil, err
	}
	if uint64(args.Size) > st.cp.Size || args.Index >= args.Size {
		return nil, badRequest(fmt.Sprintf("need index < size ≤ %d (the current checkpoint)", st.cp.Size))
	}
	hs, err := r.g.deps.Log.InclusionProof(ctx, uint64(args.Index), uint64(args.Size))
	if err != nil {
		return nil, err
	}
	return &inclusionOut{Index: args.Index, Size: args.Size, Hashes: b64s(hs)}, nil
}

type consistencyOut struct {
	From, To Uint64
	Hashes   []string
}

func (r *resolver) ConsistencyProof(ctx context.Context, args struct{ From, To Uint64 }) (*consistencyOut, error) {
	st, err := authenticated(ctx, "consistencyProof")
	if err != nil {
		return nil, err
	}
	if uint64(args.To) > st.cp.Size || args.From > args.To {
		return nil, badRequest(fmt.Sprintf("need from ≤ to ≤ %d (the current checkpoint)", st.cp.Size))
	}
	hs, err := r.g.deps.Log.ConsistencyProof(ctx, uint64(args.From), uint64(args.To))
	if err != nil {
		return nil, err
	}
	return &consistencyOut{From: args.From, To: args.To, Hashes: b64s(hs)}, nil
}

func b64s(hs [][]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = base64.StdEncoding.EncodeToString(h)
	}
	return out
}
