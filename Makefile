# crossledger — see README.md.
.PHONY: test build vet bench fuzz dev clean

GO ?= go

build:
	$(GO) build -o crossledger ./cmd/crossledger

# Installs (when absent) and starts ClickHouse, PostgreSQL and the broker on
# 127.0.0.1, then runs go vet and go test -race ./... against them.
test:
	bash ops/testenv/run-tests.sh

vet:
	$(GO) vet ./...

dev:
	$(GO) run ./cmd/crossledger dev

# Benchmarks of the hot paths; see docs/performance.md.
bench:
	$(GO) test -run='^$$' -bench=. -benchtime=1s ./schema/ ./merkle/

# Every fuzz target of every package (found with go test -list), each for
# FUZZTIME (default 60s).
FUZZTIME ?= 60s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$t"; \
			$(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

clean:
	rm -f crossledger
