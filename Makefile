# esoutliers: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
ES_PORT ?= 9200
export ES_PORT
ES_URL ?= http://127.0.0.1:$(ES_PORT)
export ES_URL
CARGO ?= cargo

.PHONY: all build test test-cluster test-matrix bench-pairs bench-scale lint snapshots demo bench es-up es-down es-clean es-up-secure es-down-secure

all: build

## The product (esoutliers) and the tools crate (esoutliers-sample, esoutliers-baseline).
build:
	$(CARGO) build --release --workspace

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

## The integration suite on each node flavor that starts here, one after the other, each
## on a node of its own (port 9260): es7 = Elasticsearch 7.10.2, os2 = OpenSearch 2.19.1,
## os3 = OpenSearch 3.8.0 (on the Temurin JDK 25 under /usr/lib/jvm).
## Tests that start nodes of their own start the same flavor. `make test-matrix
## MATRIX=os2` runs one flavor. (Elasticsearch 8.x: see README, "Clusters tested".)
MATRIX ?= es7 os2 os3
test-matrix:
	@set -e; for f in $(MATRIX); do \
	  echo "== integration suite on $$f"; \
	  ES_FLAVOR=$$f ES_PORT=9260 scripts/esnode.sh up; \
	  if ! ES_FLAVOR=$$f ES_URL=http://127.0.0.1:9260 $(CARGO) test --test it; then \
	    ES_FLAVOR=$$f ES_PORT=9260 scripts/esnode.sh down; echo "== FAILED on $$f"; exit 1; \
	  fi; \
	  ES_FLAVOR=$$f ES_PORT=9260 scripts/esnode.sh down; \
	done

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## Review changed request snapshots interactively.
snapshots:
	$(CARGO) insta review

demo: es-up
	$(CARGO) build --release --workspace
	./target/release/esoutliers-sample load --url $(ES_URL) --index logs-endpoint-demo --events 300000 --hosts 40 --seed 7 --cmd-variants 1000 --replace
	./target/release/esoutliers run --config queries

bench: es-up
	scripts/bench.sh
	scripts/bench_pairs.sh
	scripts/bench_metrics.sh
	scripts/bench_scale.sh

## Engine memory against the number of distinct pairs (1M and 4M), detection only.
bench-pairs: es-up
	scripts/bench_pairs.sh

## Counting at scale (issue 14): 20k and 500k pairs at 1M and 4M events, and 10 use cases
## in one run against each alone (BENCH_SCALE_SIZES, default "1000000 4000000").
bench-scale: es-up
	scripts/bench_scale.sh

es-up:
	scripts/esnode.sh up

es-down:
	scripts/esnode.sh down

es-clean:
	scripts/esnode.sh clean

## The secured node (OpenSearch 2.19.1 with its security plugin, TLS with a CA made at
## start, users detector/reader/partial/admin) at https://127.0.0.1:9201; credentials and
## the CA's path in .esnode/secure/env (tests/it/secure.rs reads it).
es-up-secure:
	scripts/esnode-secure.sh up

es-down-secure:
	scripts/esnode-secure.sh down
