# beamup: make build | test | demo | bench
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN     := bin

.PHONY: all setup build test test-short demo bench clean

all: build

# OS packages (OTP, mosquitto, lrzsz, socat, minisign); idempotent.
setup:
	@scripts/setup-os.sh

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/beamupd ./cmd/beamupd
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/beamup ./cmd/beamup

# The whole suite: formatting, vet, and every test, with the race
# detector, against a real OTP node.
test: setup
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 15m ./...

# Unit tests only: no OTP node, no external tools.
test-short:
	$(GO) test -short ./...

demo: setup build
	@scripts/demo.sh $(BIN)

bench: setup build
	@scripts/bench.sh $(BIN)

clean:
	rm -rf $(BIN)
