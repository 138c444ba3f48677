# irischaos: a newcomer needs `make run` and `make test`; `make check` is the everyday one.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
IRISCHAOS := $(BIN)/irischaos
BENCH_HISTORY ?= $(CURDIR)/build/bench-history-1m.jsonl
GOBIN ?= $(shell $(GO) env GOPATH)/bin
STATICCHECK_VERSION := v0.8.2
# Reports name the irischaos build that measured them.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# KEEP=1 keeps the local cluster after `make run`.
KEEP ?=
export PATH := $(BIN):$(GOBIN):$(PATH)

.PHONY: all build run test check unit lint e2e fence image deps bench clean cluster-up cluster-down

all: build

build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN)/ ./cmd/irischaos ./internal/lab/cmd/iris ./internal/lab/cmd/iris-main ./internal/lab/cmd/pause ./internal/lab/cmd/irischaos-csi

## run: bring the local cluster up, deploy the stack, run every scenario, write reports, take the cluster down.
run: build
	KEEP=$(KEEP) ./hack/run.sh

## test: everything CI runs: lint, unit tests, the chaos e2e against the local cluster, and the fencing proof on a throw-away Ceph.
test: lint unit e2e fence

## check: the everyday command: lint and unit tests; no root, no cluster, under a minute.
check: lint unit

unit:
	$(GO) test -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags chaos ./e2e/...
	$(GO) vet -tags ceph ./internal/lab/csi/...
	@command -v staticcheck >/dev/null || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	staticcheck ./...
	staticcheck -tags chaos ./e2e/...

## e2e: the cluster tests (build tag chaos). Uses KUBECONFIG when set, else brings the local cluster up and down.
e2e: build deps
	@mkdir -p build
	$(GO) test -count=1 -tags chaos -timeout 80m -v ./e2e/ 2>&1 | tee build/e2e.log; exit $${PIPESTATUS[0]}

## fence: a fenced writer gets errors, never an acknowledgement (root, Debian's Ceph: a throw-away cluster on loopback).
fence: deps
	$(GO) test -count=1 -tags ceph -timeout 10m -v -run TestFencedWriterGetsErrors ./internal/lab/csi/

## image: the IRIS stand-in and pause image tarballs, built without Docker.
image: build
	$(IRISCHAOS) image build --out build/images

## deps: Debian packages and the cached Kubernetes/etcd binaries the local cluster needs.
deps: build
	./hack/deps.sh

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 2s ./pkg/...
	@mkdir -p build
	BENCH_HISTORY=$(BENCH_HISTORY) GOMAXPROCS=1 $(GO) test -run '^$$' -bench Analyze1M -benchtime 3x -benchmem ./cmd/irischaos
	GOMAXPROCS=1 /usr/bin/time -f 'bench: analyze of 1 M ops: %e s wall, %U s user, %S s system, %M KB max RSS (goal: < 2 s, < 200 MB)' \
		$(IRISCHAOS) analyze $(BENCH_HISTORY) -o json >/dev/null
	./hack/bench-cluster-up.sh

cluster-up: build deps
	$(IRISCHAOS) cluster up
cluster-down: build
	$(IRISCHAOS) cluster down

clean:
	rm -rf $(BIN) build
