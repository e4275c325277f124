# beamup: make build | test | demo | bench
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -buildid= -X main.version=$(VERSION) -X main.commit=$(COMMIT)
BIN     := bin
# beamupd, the device binary, is compiled without inlining but in the
# packages that read a release tarball: 0.8 MiB less on arm64 (8.25 to
# 7.44 MiB), for boards with little flash, at the cost make bench shows.
# SHA-256 and the ciphers of TLS are assembly, which inlining does not touch.
DEVICE_GCFLAGS ?= -gcflags=all=-l -gcflags=compress/...= -gcflags=hash/...= -gcflags=archive/tar= -gcflags=bufio= -gcflags=io=
DIST    := dist
# GOOS/GOARCH/GOARM of each device architecture, and the name of its build.
CROSS   := linux/amd64/ linux/arm64/ linux/arm/7 linux/riscv64/

.PHONY: all setup build test test-short test-cross cross demo bench fuzz torture clean

all: build

# OS packages (OTP, mosquitto, lrzsz, socat, minisign); idempotent.
setup:
	@scripts/setup-os.sh

build:
	CGO_ENABLED=0 $(GO) build -trimpath $(DEVICE_GCFLAGS) -ldflags '$(LDFLAGS)' -o $(BIN)/beamupd ./cmd/beamupd
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/beamup ./cmd/beamup

# The whole suite: formatting, vet, and every test, with the race
# detector, against a real OTP node. Packages run one at a time (their
# tests still run in parallel): lrzsz's rz allows a tenth of a second
# between the bytes of a block, which a 2-core machine busy with OTP nodes
# for another package does not always give the serial tests.
test: setup
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m -p 1 ./...

# Each fuzz target for FUZZTIME: the parsers of what arrives from a network
# or a cable (bundle, manifest, release tarball, Erlang terms).
FUZZTIME ?= 30s
FUZZ     := bundle:FuzzVerify bundle:FuzzParseManifest otprel:FuzzReadTarball otprel:FuzzParseTerms \
            transport/serial:FuzzReceive transport/mqtt:FuzzOpenTarget transport/mqtt:FuzzOpenOffer transport/mqtt:FuzzChunkConnServe delta:FuzzReadIndex delta:FuzzRebuild
fuzz:
	@set -e; for f in $(FUZZ); do \
	  echo "fuzzing $${f#*:} for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$${f#*:}$$" -fuzztime $(FUZZTIME) ./$${f%%:*}; \
	done

# beamupd, or beamupd and the node together (a power cut), killed with
# SIGKILL at random moments of installs over a file, MQTT and the cable,
# hot, broken and cold (TestTorture, TORTURE trials; make test runs 3), and
# of hot upgrades of every release tool (TRIALS each; make test runs 2);
# then restarted: the device must always boot a healthy permanent release,
# with nothing left behind. KILL_SEED and TORTURE_SEED repeat a run.
TRIALS  ?= 25
TORTURE ?= 100
torture: setup
	BEAMUP_KILL_TRIALS=$(TRIALS) BEAMUP_KILL_SEED=$(KILL_SEED) \
	BEAMUP_TORTURE_TRIALS=$(TORTURE) BEAMUP_TORTURE_SEED=$(TORTURE_SEED) $(GO) test -count=1 -timeout 180m \
	  -run 'TestTorture|TestKilledAtRandomEachTool|TestBeamupdKilledAndResumed|TestColdUpgradeKilledAtEachStep' ./cmd/beamupd

# Unit tests only: no OTP node, no external tools.
test-short:
	$(GO) test -short ./...

# Static, stripped, reproducible builds for every device architecture,
# with SHA-256 sums; fails unless file(1) calls each one static.
cross:
	@scripts/setup-cross.sh
	rm -rf $(DIST) && mkdir -p $(DIST)
	@set -e; for t in $(CROSS); do \
	  os=$${t%%/*}; rest=$${t#*/}; arch=$${rest%%/*}; arm=$${rest#*/}; \
	  name=$$os-$$arch$${arm:+v$$arm}; \
	  for c in beamupd beamup; do \
	    gc=; [ $$c = beamupd ] && gc='$(DEVICE_GCFLAGS)'; \
	    CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch GOARM=$$arm $(GO) build -trimpath $$gc -ldflags '$(LDFLAGS)' \
	      -o $(DIST)/$$c-$$name ./cmd/$$c; \
	    file $(DIST)/$$c-$$name | grep -q 'statically linked' || { file $(DIST)/$$c-$$name; echo "not static"; exit 1; }; \
	  done; \
	done
	cd $(DIST) && sha256sum beamup* > SHA256SUMS && cat SHA256SUMS
	@ls -l $(DIST)

# The unit tests for arm64 and armv7, run under qemu-user.
test-cross:
	@scripts/setup-cross.sh
	CGO_ENABLED=0 GOARCH=arm64 $(GO) test -short -count=1 -exec qemu-aarch64-static ./...
	CGO_ENABLED=0 GOARCH=arm GOARM=7 $(GO) test -short -count=1 -exec qemu-arm-static ./...

demo: setup build
	@scripts/demo.sh $(BIN)

bench: setup build
	@DEVICE_GCFLAGS='$(DEVICE_GCFLAGS)' scripts/bench.sh $(BIN)

clean:
	rm -rf $(BIN) $(DIST)
