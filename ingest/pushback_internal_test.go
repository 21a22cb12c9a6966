package ingest

import (
	"errors"
	"log/slog"
	"testing"
)

type fixedProgress uint64

func (f fixedProgress) ProjectedSize() uint64 { return uint64(f) }

func TestCheckPushbackDisk(t *testing.T) {
	cfg := Config{PayloadDir: "/payloads", MinFreeDisk: 1000}
	cfg.SetDefaults()
	var free uint64
	var statErr error
	var dirs []string
	in := &Ingester{cfg: cfg, logger: slog.New(slog.DiscardHandler), statfs: func(dir string) (uint64, error) {
		dirs = append(dirs, dir)
		return free, statErr
	}}
	for _, tc := range []struct {
		free  uint64
		pause bool
	}{{0, true}, {999, true}, {1000, false}, {1001, false}, {1 << 40, false}} {
		free = tc.free
		err := in.checkPushback(0)
		if got := errors.Is(err, ErrPushback); got != tc.pause {
			t.Errorf("free %d: checkPushback = %v, want pause %v", tc.free, err, tc.pause)
		}
	}
	if dirs[0] != "/payloads" {
		t.Errorf("statfs on %q, want the payload dir", dirs[0])
	}
	// A failing check does not halt ingest.
	free, statErr = 0, errors.New("boom")
	if err := in.checkPushback(0); err != nil {
		t.Errorf("statfs failing: checkPushback = %v, want nil", err)
	}

	// The default is 1 GiB.
	def := Config{}
	def.SetDefaults()
	in.cfg.MinFreeDisk, statErr = def.MinFreeDisk, nil
	for f, pause := range map[uint64]bool{1<<30 - 1: true, 1 << 30: false} {
		free = f
		if got := errors.Is(in.checkPushback(0), ErrPushback); got != pause {
			t.Errorf("default min_free_disk, free %d: pause %v, want %v", free, got, pause)
		}
	}
}

func TestCheckPushbackLag(t *testing.T) {
	cfg := Config{PayloadDir: "/payloads", MaxProjectionLag: 10}
	cfg.SetDefaults()
	in := &Ingester{cfg: cfg, logger: slog.New(slog.DiscardHandler),
		statfs: func(string) (uint64, error) { return 1 << 50, nil }}
	if err := in.checkPushback(1 << 40); err != nil {
		t.Fatalf("no projection configured: %v", err)
	}
	for _, tc := range []struct {
		size, projected uint64
		pause           bool
	}{{0, 0, false}, {10, 0, false}, {11, 0, true}, {111, 100, true}, {110, 100, false}, {5, 100, false}} {
		in.lag = fixedProgress(tc.projected)
		err := in.checkPushback(tc.size)
		if got := errors.Is(err, ErrPushback); got != tc.pause {
			t.Errorf("size %d projected %d: %v, want pause %v", tc.size, tc.projected, err, tc.pause)
		}
	}
	def := Config{}
	def.SetDefaults()
	if def.MaxProjectionLag != 100000 {
		t.Errorf("default max_projection_lag %d", def.MaxProjectionLag)
	}
}
