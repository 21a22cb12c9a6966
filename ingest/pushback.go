package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ErrPushback is wrapped by the reason ingest pauses: the projection is
// more than [Config.MaxProjectionLag] entries behind the log, or the payload
// directory's file system has less than [Config.MinFreeDisk] bytes free, or
// (with [Deps.Witnessing]) committed entries wait for the witnesses'
// quorum (see [Config.MaxUnwitnessed]).
// While paused, ingest fetches and appends nothing; the readers block on
// the bounded batch channel, so memory stays bounded, and unconsumed
// messages wait in Kafka. It resumes by itself once the condition clears.
var ErrPushback = errors.New("ingest: pushback")

// ProjectionProgress reports how far a projection has got: the log size it
// has projected (its watermark). [Projector] implements it.
type ProjectionProgress interface {
	ProjectedSize() uint64
}

// pauseError is a pushback with its metrics reason ([PauseProjectionLag]
// or [PauseDisk]); it wraps [ErrPushback].
type pauseError struct {
	reason string
	err    error
}

func (e *pauseError) Error() string { return e.err.Error() }
func (e *pauseError) Unwrap() error { return e.err }

// pauseReason returns the metrics reason of a pushback error.
func pauseReason(err error) string {
	if pe, ok := errors.AsType[*pauseError](err); ok {
		return pe.reason
	}
	return ""
}

// pushbackPoll is how often a paused ingest re-checks its condition.
const pushbackPoll = 100 * time.Millisecond

// pushback holds the pause state. Only the batch loop writes it.
type pushback struct {
	mu     sync.Mutex
	reason error // nil when not paused

	diskErr error // last statfs failure, logged once
}

// freeDisk returns the bytes available to an unprivileged user on the
// file system holding dir.
func freeDisk(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}

// Paused reports whether ingest is holding back because the projection or
// the disk falls behind, and why.
func (in *Ingester) Paused() (bool, string) {
	in.pb.mu.Lock()
	defer in.pb.mu.Unlock()
	if in.pb.reason == nil {
		return false, ""
	}
	return true, in.pb.reason.Error()
}

// checkPushback returns an error wrapping [ErrPushback] if ingest must not
// take another batch at log size size, or nil. A failing statfs does not
// pause ingest (it is logged once): a broken check must not halt the log.
func (in *Ingester) checkPushback(size uint64) error {
	if in.wit != nil {
		pub := in.log.PublishedSize()
		in.m.unwitnessed.Set(float64(size - min(size, pub)))
		st := in.wit.Status()
		if waiting := size - min(size, pub); waiting > in.cfg.MaxUnwitnessed || waiting > 0 && !st.OK {
			why := st.Reason
			if why == "" {
				why = "cosigning in progress"
			}
			return &pauseError{PauseWitnesses, fmt.Errorf("%w: %d committed entries wait for the witnesses (log size %d, published %d, max_unwitnessed %d): %s",
				ErrPushback, waiting, size, pub, in.cfg.MaxUnwitnessed, why)}
		}
	}
	if in.lag != nil {
		if p := in.lag.ProjectedSize(); p < size && size-p > in.cfg.MaxProjectionLag {
			return &pauseError{PauseProjectionLag, fmt.Errorf("%w: projection is %d entries behind the log (size %d, projected %d), max_projection_lag %d",
				ErrPushback, size-p, size, p, in.cfg.MaxProjectionLag)}
		}
	}
	free, err := in.statfs(in.cfg.PayloadDir)
	if err != nil {
		if in.pb.diskErr == nil || in.pb.diskErr.Error() != err.Error() {
			in.logger.Error("couldn't check free disk space; not pausing for it", "dir", in.cfg.PayloadDir, "err", err)
		}
		in.pb.diskErr = err
		return nil
	}
	in.pb.diskErr = nil
	if free < uint64(in.cfg.MinFreeDisk) {
		return &pauseError{PauseDisk, fmt.Errorf("%w: %d bytes free on the file system of %s, min_free_disk %d",
			ErrPushback, free, in.cfg.PayloadDir, in.cfg.MinFreeDisk)}
	}
	return nil
}

// refreshPause evaluates the pushback condition and records it (state,
// gauge, one log line on each change); it returns the reason to pause.
func (in *Ingester) refreshPause() error {
	reason := in.checkPushback(in.log.Size())
	in.pb.mu.Lock()
	was := in.pb.reason
	in.pb.reason = reason
	in.pb.mu.Unlock()
	if pauseReason(reason) != pauseReason(was) {
		in.m.setPaused(pauseReason(reason))
	}
	switch {
	case reason != nil && (was == nil || pauseReason(was) != pauseReason(reason)):
		in.logger.Warn("pausing ingest: not fetching", "pause", pauseReason(reason), "reason", reason.Error())
	case reason == nil && was != nil:
		in.logger.Info("resuming ingest", "paused_for", was.Error())
	}
	return reason
}

// waitRoom blocks while ingest must hold back, logging when it starts
// pausing (warn) and when it resumes (info), and setting the paused gauge
// (crossledger_ingest_paused{reason}). It returns ctx's error if ctx
// is done first.
func (in *Ingester) waitRoom(ctx context.Context) error {
	var t *time.Ticker
	for {
		if in.refreshPause() == nil {
			return nil
		}
		if t == nil {
			t = time.NewTicker(pushbackPoll)
			defer t.Stop()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
