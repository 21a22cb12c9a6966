package adapters

import (
	"errors"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

func TestBackoff(t *testing.T) {
	const after, most = 5 * time.Second, 2 * time.Minute
	for _, tc := range []struct {
		attempts int
		want     time.Duration
	}{
		{0, 5 * time.Second}, {1, 10 * time.Second}, {2, 20 * time.Second}, {4, 80 * time.Second},
		{5, most}, {20, most}, {1000, most}, // capped, never overflowing into a short wait
	} {
		if got := backoff(tc.attempts, after, most); got != tc.want {
			t.Errorf("backoff(%d) = %v, want %v", tc.attempts, got, tc.want)
		}
	}
}

func TestResendBelow(t *testing.T) {
	now := time.Unix(1000, 0)
	const after = 5 * time.Second
	for _, tc := range []struct {
		name        string
		lastSettled time.Time
		maxSettled  uint64
		below       uint64
		bounded     bool
	}{
		{"nothing settled yet", time.Time{}, 0, 0, false},
		{"receipts flowing: only gaps below the highest answered", now.Add(-time.Second), 40, 40, true},
		{"receipts stopped: everything overdue", now.Add(-after), 40, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var last int64
			if !tc.lastSettled.IsZero() {
				last = tc.lastSettled.UnixNano()
			}
			below, bounded := resendBelow(now, last, tc.maxSettled, after)
			if below != tc.below || bounded != tc.bounded {
				t.Errorf("resendBelow = %d, %v; want %d, %v", below, bounded, tc.below, tc.bounded)
			}
		})
	}
}

func TestMessageErrs(t *testing.T) {
	boom := errors.New("boom")
	if errs := messageErrs(boom, 3); len(errs) != 3 || errs[0] != boom || errs[2] != boom {
		t.Errorf("a whole-write error: %v", errs)
	}
	per := kafka.WriteErrors{nil, boom}
	if errs := messageErrs(per, 2); len(errs) != 2 || errs[0] != nil || errs[1] != boom {
		t.Errorf("per-message errors: %v", errs)
	}
	if errs := messageErrs(per, 3); len(errs) != 3 || !errors.As(errs[0], new(kafka.WriteErrors)) {
		t.Errorf("per-message errors of another length: %v", errs)
	}
	reqs := []*pubReq{{seqs: []uint64{1, 2}, sent: make(chan struct{})}, {seqs: []uint64{3}, sent: make(chan struct{})}}
	complete(reqs, []error{nil, boom, nil})
	if reqs[0].sendErr != boom || reqs[1].sendErr != nil {
		t.Errorf("complete: send errors %v, %v; want boom, nil", reqs[0].sendErr, reqs[1].sendErr)
	}
	for _, r := range reqs {
		select {
		case <-r.sent:
		default:
			t.Error("complete did not release a caller")
		}
	}
}
