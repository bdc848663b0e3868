#!/usr/bin/env bash
# make bench-pairs: the engine's memory and time against the number of distinct pairs
# (SPEC: buckets arrive sorted by parent, so the engine keeps one parent's children plus
# the candidates). Two events whose parent and child fields are lists of P and C values
# give P x C distinct pairs of count 2 (composite yields every combination); one more
# event adds a rare pair of count 1. Detection only (--dry-run), under /usr/bin/time.
#
#   BENCH_PAIRS="1000x1000 2000x2000" scripts/bench_pairs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ES_URL=${ES_URL:-http://127.0.0.1:${ES_PORT:-9200}}
SHAPES=${BENCH_PAIRS:-"1000x1000 2000x2000"}
NOW=2026-11-28T00:00:00Z
OUT=bench-out
mkdir -p "$OUT"
cargo build --release --quiet --workspace
BIN=target/release

list() { # prefix count -> "prefix0000.exe","prefix0001.exe",...
  local out="" i
  for ((i = 0; i < $2; i++)); do out+=$(printf '"%s%05d.exe",' "$1" "$i"); done
  echo "${out%,}"
}

echo "| distinct pairs | pages | buckets read | detection wall time | Elasticsearch took | engine peak RSS | outliers |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
for shape in $SHAPES; do
  p=${shape%x*}; c=${shape#*x}
  idx="bench-pairs-$shape"
  curl -fsS -XDELETE "$ES_URL/$idx" >/dev/null 2>&1 || true
  curl -fsS -XPUT "$ES_URL/$idx" -H 'Content-Type: application/json' -d '{
    "settings": { "number_of_shards": 1, "number_of_replicas": 0 },
    "mappings": { "properties": { "@timestamp": { "type": "date" },
      "process": { "properties": { "name": { "type": "keyword" },
        "parent": { "properties": { "name": { "type": "keyword" } } } } } } } }' >/dev/null
  wide="{\"@timestamp\":\"2026-11-27T12:00:00Z\",\"process\":{\"name\":[$(list child "$c")],\"parent\":{\"name\":[$(list parent "$p")]}}}"
  rare='{"@timestamp":"2026-11-27T12:00:00Z","process":{"name":"rare.exe","parent":{"name":"parent00000.exe"}}}'
  printf '{"index":{}}\n%s\n{"index":{}}\n%s\n{"index":{}}\n%s\n' "$wide" "$wide" "$rare" |
    curl -fsS -XPOST "$ES_URL/$idx/_bulk?refresh=true" -H 'Content-Type: application/x-ndjson' --data-binary @- >/dev/null
  conf="$OUT/pairs-$shape.conf"
  cat >"$conf" <<CONF
[general]
es_index_pattern=$idx
history_window_days=7

[terms_pairs]
aggregator=process.parent.name
target=process.name
trigger_on=low
trigger_method=float
trigger_sensitivity=2
outlier_type=process execution
outlier_reason=rare pair
outlier_summary=rare {process.name} under {process.parent.name}
CONF
  /usr/bin/time -f '%M %e' -o "$OUT/pairs-$shape.time" \
    $BIN/esoutliers -q run --config "$conf" --now "$NOW" --dry-run --format json >"$OUT/pairs-$shape.json"
  python3 - "$OUT" "$shape" "$((p * c + 1))" <<'PY'
import json, sys
out, shape, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
u = json.load(open(f"{out}/pairs-{shape}.json"))["use_cases"][0]
rss, wall = open(f"{out}/pairs-{shape}.time").read().split()
assert u["buckets_read"] == expected, (u["buckets_read"], expected)
assert [(o["aggregator"], o["target"]) for o in u["outliers"]] == [("parent00000.exe", "rare.exe")], u["outliers"]
print(f"| {expected:,} | {u['pages']} | {u['buckets_read']:,} | {u['detection_ms']:,} ms | {u['es_took_ms']:,} ms | {int(rss)/1024:.1f} MiB | {len(u['outliers'])} |")
PY
  curl -fsS -XDELETE "$ES_URL/$idx" >/dev/null
done
