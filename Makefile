# ftpxdp: `make demo` shows the problem and the fix; `make test` runs every
# test for real. Both install what they need (Debian packages) when missing.

GO        ?= go
export PATH := $(PATH):/usr/local/go/bin
BIN       := bin/ftpxdp
GOFLAGS_TEST ?=
# Fuzz budgets count inputs (-fuzztime Nx), about 20 s each on a 2-vCPU VM:
# a duration races Go's fuzz coordinator, which then fails a clean run with
# "context deadline exceeded" (go.dev/issue/75804, fixed in Go 1.27; seen
# here). FUZZTIME=30s still asks for a duration instead.
FUZZTIME  ?=
FUZZ_EXECS ?= 20000
export FUZZ_EXECS_FuzzHostileControl    ?= 8000
export FUZZ_EXECS_FuzzKernelVsReference ?= 20000
export FUZZ_EXECS_FuzzParse             ?= 1000000
# Minimising each new input may take 60 s by default: longer than a budget.
FUZZMINTIME ?= 2s

# Debian packages: to build the kernel program, and to run the labs.
BUILD_PKGS := clang llvm libbpf-dev linux-libc-dev bpftool
LAB_PKGS   := iproute2 nftables tcpdump lftp curl ftp python3 iperf3 procps

APT_INSTALL = DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends

.PHONY: all build generate check-generated deps deps-build deps-lab deps-prometheus check-prometheus test test-unit test-kernel fuzz demo bench clean completion

all: build

# deps-* install only what is missing, so they are cheap to run every time.
deps: deps-build deps-lab deps-prometheus

deps-build:
	@scripts/apt-ensure.sh $(BUILD_PKGS)

deps-lab:
	@scripts/apt-ensure.sh $(LAB_PKGS)
	@scripts/lab-deps.sh

# The Prometheus server and promtool (Debian's prometheus), for the metrics
# tests; the install does not start the packaged service.
deps-prometheus:
	@scripts/prometheus-deps.sh

# The alert rules and the example scrape configuration, and the alerts' unit
# tests (make test runs the same checks from metrics/contrib_test.go).
check-prometheus: deps-prometheus
	promtool check rules contrib/prometheus/ftpxdp-alerts.yml
	promtool check config contrib/prometheus/prometheus.yml
	promtool test rules contrib/prometheus/ftpxdp-alerts.test.yml

build:
	$(GO) build -o $(BIN) ./cmd/ftpxdp

# Regenerate the shell completion scripts in contrib/completion (a test
# fails when they are stale).
completion: build
	$(BIN) completion bash > contrib/completion/ftpxdp.bash
	$(BIN) completion zsh > contrib/completion/_ftpxdp
	$(BIN) completion fish > contrib/completion/ftpxdp.fish

# Regenerate the committed eBPF objects (needs clang).
generate: deps-build
	$(GO) generate ./loader/... ./bench/...

# CI: the committed objects must be what the sources compile to.
check-generated: generate
	@git diff --exit-code --stat -- loader/ 'bench/*_bpfel.*' || { \
	  echo "error: loader/*_bpfel.{go,o} or bench/*_bpfel.{go,o} are stale: run 'make generate' and commit them" >&2; exit 1; }

test: deps check-generated
	$(GO) vet ./...
	FTPXDP_REQUIRE_KERNEL=1 $(GO) test $(GOFLAGS_TEST) -count=1 -skip '^TestMatrix$$' ./...
	$(MAKE) interop
	$(MAKE) fuzz

# Bounded runs of the fuzz targets, on top of their seed corpora in testdata/.
fuzz:
	@for t in $$(grep -rhoE '^func (Fuzz[A-Za-z0-9_]+)' --include=*_test.go . | sed 's/func //' | sort -u); do \
	  pkg=$$(grep -rlE "^func $$t\(" --include=*_test.go . | head -1 | xargs dirname); \
	  budget="$(FUZZTIME)"; \
	  [ -n "$$budget" ] || budget="$$(eval echo \$${FUZZ_EXECS_$$t:-$(FUZZ_EXECS)})x"; \
	  echo "fuzz $$t in $$pkg for $$budget"; \
	  FTPXDP_REQUIRE_KERNEL=1 $(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$$budget -fuzzminimizetime=$(FUZZMINTIME) $$pkg || exit 1; \
	done

# Benchmarks (BENCHMARKS.md): a table per part and a verdict line per
# target; figures never fail the run. Not part of `make test`. Results land
# in bin/bench. Smaller runs: make bench BENCH_FLAGS='-parts 1 -rounds 3'.
BENCH_PKGS  := iproute2 nftables iperf3 linux-perf
BENCH_FLAGS ?=
bench: deps-build build
	@scripts/apt-ensure.sh $(BENCH_PKGS)
	$(GO) run ./bench/cmd/ftpxdp-bench -ftpxdp $(BIN) -out bin/bench $(BENCH_FLAGS)

# The README's main command: the active-mode download that a stateless
# default-deny gateway breaks, then ftpxdp on the gateway making it work, in
# network namespaces torn down on exit or Ctrl-C (scripts/demo.sh).
demo: deps-lab build
	@scripts/demo.sh $(BIN)

# The interoperability matrix (internal/lab): vsftpd, proftpd and pure-ftpd
# against lftp, curl, Python ftplib and ftp, active and passive, IPv4 and
# IPv6, in three topologies under four gateway policies, and the negative
# cases; prints the table and "N passed, M failed" (about two minutes).
# A subset: make interop LAB_CELLS='^client-gw/ftpxdp/vsftpd/' (a regular
# expression on the cell names the table lists) or LAB_RUN=TestMatrix/negative.
LAB_CELLS ?=
LAB_RUN   ?= ^TestMatrix$$
.PHONY: interop captures
interop: deps-lab
	FTPXDP_REQUIRE_KERNEL=1 FTPXDP_LAB_CELLS='$(LAB_CELLS)' $(GO) test -count=1 -v -run '$(LAB_RUN)' ./internal/lab

# Re-record the real sessions in testdata/pcap that the replay tests read.
captures: deps-lab
	FTPXDP_RECORD_CAPTURES=1 FTPXDP_REQUIRE_KERNEL=1 $(GO) test -count=1 -v -run '^TestRecordCaptures$$' ./internal/lab

clean:
	rm -rf bin
