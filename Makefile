# esoutliers: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
ES_PORT ?= 9200
export ES_PORT
ES_URL ?= http://127.0.0.1:$(ES_PORT)
export ES_URL
CARGO ?= cargo

.PHONY: all build test test-cluster lint snapshots demo bench es-up es-down es-clean

all: build

build:
	$(CARGO) build --release

## The test command (README): format, lint, snapshots, unit tests and the integration
## tests on the real local node (started if needed).
test: es-up lint
	@if $(CARGO) insta --version >/dev/null 2>&1; then \
	  echo "cargo insta test --check --unreferenced reject"; \
	  $(CARGO) insta test --check --unreferenced reject --all-targets; \
	else \
	  echo "cargo-insta not installed: snapshots checked without orphan detection"; \
	  INSTA_UPDATE=no $(CARGO) test --all-targets; \
	fi

## The integration suite on a three-node cluster (one JVM, ports 9270-9272) with every
## test index replicated once; results must equal the single node's.
test-cluster:
	ES_NODES=3 ES_PORT=9270 ES_HEAP=2g scripts/esnode.sh up
	ES_URL=http://127.0.0.1:9270 ES_TEST_REPLICAS=1 $(CARGO) test --test it
	ES_NODES=3 ES_PORT=9270 scripts/esnode.sh down

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

## Review changed request snapshots interactively.
snapshots:
	$(CARGO) insta review

demo: es-up
	$(CARGO) build --release
	./target/release/esoutliers-sample load --url $(ES_URL) --index logs-endpoint-demo --events 300000 --hosts 40 --seed 7 --replace
	./target/release/esoutliers run --config queries/rare_child_process.conf

bench: es-up
	scripts/bench.sh

es-up:
	scripts/esnode.sh up

es-down:
	scripts/esnode.sh down

es-clean:
	scripts/esnode.sh clean
