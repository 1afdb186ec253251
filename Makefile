# Skein: make help lists the targets.
SHELL := /bin/bash
GO ?= go
GOTAGS := duckdb_arrow
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BUILD_DIR ?= $(CURDIR)/build
SKEIN_USER ?= skein
SKEIN_PASSWORD ?= secret
# bench and bench-smoke measure bin/skein, built first; SKEIN_BIN=PATH (in the
# environment or on the command line) measures that binary instead, unbuilt.
BENCH_SKEIN_BIN := $(if $(filter environment command line,$(origin SKEIN_BIN)),$(SKEIN_BIN))
BENCH_ARGS ?=
# make bench SF=N: TPC-H scale factor N (default 1); SF=10 runs only the big queries
# (Q9, Q18, Q21 on 2 executors at --memory-limit 2GB, with each process's peak RSS).
SF ?=
BENCH_SF_ARGS := $(if $(SF),--scale $(SF))$(if $(filter 10,$(SF)), --big-queries)
# make bench also installs the Ballista peer, which pip builds from source the first time
# (not for SF=10, which runs no peer).
BENCH_BALLISTA ?= $(if $(filter 10,$(SF)),0,1)
# ... and the Sail and Apache Spark peers, each in a venv of its own (a few minutes the first
# time); bench-smoke installs none of them (BENCH_SAIL=1 make bench-smoke would).
BENCH_SAIL ?= $(if $(filter 10,$(SF)),0,1)
BENCH_SPARK ?= $(if $(filter 10,$(SF)),0,1)
# make bench PROFILE=1 (or bench-smoke, bench-memory): every Skein process the harness starts
# writes its Go CPU and allocation profiles, saved as $(BUILD_DIR)/profiles/WORKLOAD-DEPLOYMENT-
# PROCESS.{cpu,alloc}.pprof (bench-smoke: $(BUILD_DIR)/bench-smoke/profiles) and summed up in the report.
PROFILE ?=
BENCH_PROFILE_ARGS := $(if $(filter 1,$(PROFILE)), --profile)
export SKEIN_BIN := $(CURDIR)/bin/skein
export BUILD_DIR

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-14s %s\n", $$1, $$2}'

.PHONY: build
build: extensions ## build bin/skein, with DuckDB's httpfs extension beside it (bin/duckdb-extensions)
	$(GO) build -tags $(GOTAGS) -ldflags "-X main.version=$(VERSION)" -o bin/skein ./cmd/skein

.PHONY: extensions
extensions: ## fetch DuckDB's httpfs extension (object storage) from PyPI, pinned and hash-checked, into bin/duckdb-extensions
	bash tools/duckdb-extensions.sh bin/duckdb-extensions

.PHONY: run
run: build ## run a server on 127.0.0.1:31337, status page and metrics on http://127.0.0.1:31338 (user skein, password secret; override SKEIN_USER/SKEIN_PASSWORD)
	SKEIN_USER=$(SKEIN_USER) SKEIN_PASSWORD=$(SKEIN_PASSWORD) ./bin/skein serve --http-addr 127.0.0.1:31338

.PHONY: test
test: test-go fuzz-smoke test-python test-jdbc ## run every test suite (Go, fuzz smoke, Python, JDBC)

.PHONY: test-go
test-go: build moto ## run the Go tests (race detector on, but for the long end-to-end corpus)
	cd deploy/kubernetes && $(GO) test -count=1 ./...
	$(GO) test -tags $(GOTAGS) -race -count=1 -timeout 25m $$($(GO) list -tags $(GOTAGS) ./... | grep -v /integration)
	$(GO) test -tags $(GOTAGS) -count=1 -run 'TestGoHeapReservedUnderTheLimit' ./cmd/skein/
	$(GO) test -tags $(GOTAGS) -count=1 -timeout 30m ./integration/

.PHONY: moto
moto: ## install moto's S3 server (pinned) into $(BUILD_DIR)/motoenv, for the object storage tests and bench
	bash tools/venv.sh $(BUILD_DIR)/motoenv tools/moto-requirements.txt

.PHONY: test-python
test-python: build ## run the Python suite (ADBC, pyarrow) against bin/skein
	bash integration/python/run.sh

.PHONY: test-jdbc
test-jdbc: build ## run the JDBC suite against bin/skein
	bash integration/jdbc/run.sh

# The fuzz targets, as package:target; make fuzz runs each for FUZZTIME,
# make fuzz-smoke (part of make test) for FUZZ_SMOKE_TIME. The smoke budget
# is a count of inputs, not a duration: Go 1.26's fuzz coordinator can report
# "context deadline exceeded" with no failing input when a duration ends while
# a worker is busy (golang/go#75804, fixed in Go 1.27), which a loaded CI
# machine hits.
FUZZ_TARGETS := ./flightsql/:FuzzCommands ./internal/token/:FuzzVerify ./partition/:FuzzAnalyze ./partition/:FuzzRewrite \
  ./internal/duck/:FuzzFileTarget ./internal/sqltext/:FuzzSplit ./coordinator/:FuzzClusterActions ./internal/flightwire/:FuzzCheckSchema
FUZZTIME ?= 60s
FUZZ_SMOKE_TIME ?= 500x

.PHONY: fuzz
fuzz: ## fuzz commands, tickets, the planner and its rewrites, COPY targets, the SQL scanner, the cluster actions and client schemas for FUZZTIME (60s) each
	@set -e; for t in $(FUZZ_TARGETS); do \
	  echo "fuzz $${t#*:} ($(FUZZTIME))"; \
	  $(GO) test -tags $(GOTAGS) -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZTIME) $${t%%:*}; done

.PHONY: fuzz-smoke
fuzz-smoke: ## fuzz each target for FUZZ_SMOKE_TIME (500 inputs), as make test does
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZ_SMOKE_TIME)

# make soak runs the fault and load tests at full count and the invariance
# corpus on every cluster shape; SKEIN_SOAK_TRIALS,
# SKEIN_SOAK_CLIENTS and SKEIN_SOAK_QUERIES override the counts and SOAK_RUN
# picks tests. The whole log goes to build/soak.log.
SOAK_RUN ?= ^(TestExecutorKill|TestCoordinatorKill|TestLoad|TestPartitionInvariance)$$
.PHONY: soak
soak: build ## run the fault and load tests at full count (not in CI): 50 kill trials each, 32 clients x 1,000 queries, the invariance corpus on all 9 in-process cluster shapes; prints FIGURES
	@mkdir -p $(BUILD_DIR)
	set -o pipefail; SKEIN_SOAK=1 $(GO) test -tags $(GOTAGS) -count=1 -timeout 180m -run '$(SOAK_RUN)' -v ./integration/ 2>&1 \
	  | tee $(BUILD_DIR)/soak.log | grep --line-buffered -E '^(FIGURES|--- |ok |FAIL|PASS)|(fault_[a-z]+|load|invariance)_test.go:'

.PHONY: bench
bench: $(if $(BENCH_SKEIN_BIN),,build) ## run the benchmark harness (TPC-H SF 1, or SF=N; Skein vs DuckDB, DataFusion, Ballista, Sail, Spark): bench/results/DATE.md, README block
	SKEIN_BIN=$(or $(BENCH_SKEIN_BIN),$(SKEIN_BIN)) BENCH_BALLISTA=$(BENCH_BALLISTA) \
	  BENCH_SAIL=$(BENCH_SAIL) BENCH_SPARK=$(BENCH_SPARK) \
	  SKEINBENCH_COMMAND="make bench$(if $(SF), SF=$(SF))$(if $(PROFILE), PROFILE=$(PROFILE))$(if $(BENCH_ARGS), BENCH_ARGS='$(BENCH_ARGS)')" \
	  bash bench/run.sh --readme $(BENCH_SF_ARGS)$(BENCH_PROFILE_ARGS) $(BENCH_ARGS)

.PHONY: bench-smoke
bench-smoke: $(if $(BENCH_SKEIN_BIN),,build) ## run the benchmark harness at TPC-H SF 0.01 (output in build/bench-smoke); fails on any wrong answer
	SKEIN_BIN=$(or $(BENCH_SKEIN_BIN),$(SKEIN_BIN)) SKEINBENCH_COMMAND="make bench-smoke$(if $(PROFILE), PROFILE=$(PROFILE))" \
	  bash bench/run.sh --smoke$(BENCH_PROFILE_ARGS)

.PHONY: bench-memory
bench-memory: $(if $(BENCH_SKEIN_BIN),,build) ## run 8 clients of the TPC-H mix on skein serve for 5 minutes, sampling its RSS every second: is memory flat? (output in build/bench-memory)
	SKEIN_BIN=$(or $(BENCH_SKEIN_BIN),$(SKEIN_BIN)) \
	  SKEINBENCH_COMMAND="make bench-memory$(if $(SF), SF=$(SF))$(if $(PROFILE), PROFILE=$(PROFILE))$(if $(BENCH_ARGS), BENCH_ARGS='$(BENCH_ARGS)')" \
	  bash bench/run.sh --memory-soak$(BENCH_PROFILE_ARGS)$(if $(SF), --scale $(SF)) $(BENCH_ARGS)

.PHONY: bench-go
bench-go: ## run the Go benchmarks (fetch throughput, SELECT 1 latency, scale-out, planning, unequal executors, tiny tasks)
	$(GO) test -tags $(GOTAGS) -run '^$$' -bench Fetch -benchtime 5x ./integration/
	$(GO) test -tags $(GOTAGS) -run '^$$' -bench Select1 -benchtime 300x ./integration/
	$(GO) test -tags $(GOTAGS) -run '^$$' -bench ScaleOut -benchtime 5x ./integration/
	$(GO) test -tags $(GOTAGS) -run '^$$' -bench Planning -benchtime 50x ./integration/
	$(GO) test -tags $(GOTAGS) -run '^$$' -bench UnequalExecutors -benchtime 5x ./integration/
	$(GO) test -tags $(GOTAGS) -run '^$$' -bench TinyTasks -benchtime 3x ./integration/

.PHONY: image
image: ## build the container image skein:VERSION (needs a Docker engine; the Dockerfile runs make build)
	docker build --build-arg VERSION=$(VERSION) -t skein:$(VERSION) .

.PHONY: lint
lint: ## gofmt and go vet
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt needed"; exit 1; }
	$(GO) vet -tags $(GOTAGS) ./...

.PHONY: clean
clean: ## remove build outputs
	rm -rf bin $(BUILD_DIR)
