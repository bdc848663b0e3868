#!/usr/bin/env bash
# make bench: esoutliers (aggregation pushdown) against the ee-outliers way (scroll every
# event, count in memory), same node, same data, same use case, side by side.
#
#   BENCH_SIZES="1000000 10000000" scripts/bench.sh
#
# For each size: generate and load (once; reused while the index holds that many events),
# run esoutliers --dry-run (detection only) and the baseline under /usr/bin/time (peak RSS),
# check that both found the same outlier pairs, then run esoutliers for real (tagging).
# Results: bench-out/<size>.json and a Markdown table on stdout (paste into BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ES_URL=${ES_URL:-http://127.0.0.1:${ES_PORT:-9200}}
export ES_URL
SIZES=${BENCH_SIZES:-"1000000 10000000"}
NOW=${BENCH_NOW:-2026-11-28T00:00:00Z}
OUT=bench-out
mkdir -p "$OUT"

cargo build --release --quiet --workspace
BIN=target/release

count() { curl -fsS "$ES_URL/$1/_count" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])' 2>/dev/null || echo 0; }

for n in $SIZES; do
  idx="bench-endpoint-$n"
  if [ "$(count "$idx")" != "$n" ]; then
    echo "== loading $n events into $idx" >&2
    $BIN/esoutliers-sample load --index "$idx" --events "$n" --hosts 300 --parents 2000 --children 20000 \
      --children-per-parent 25 --parent-skew 1.0 --seed 42 --days 7 --now "$NOW" --replace \
      --batch 5000 --parallel 3 --planted "$OUT/planted-$n.json"
    curl -fsS -XPOST "$ES_URL/$idx/_forcemerge?max_num_segments=1" >/dev/null || true
  fi
  conf="$OUT/bench-$n.conf"
  sed -e "s/^es_index_pattern=.*/es_index_pattern=$idx/" queries/rare_child_process.conf >"$conf"

  echo "== esoutliers detection ($n events)" >&2
  /usr/bin/time -f '%M %e' -o "$OUT/esoutliers-$n.time" \
    $BIN/esoutliers -q run --config "$conf" --now "$NOW" --dry-run --format json >"$OUT/esoutliers-$n.json"
  echo "== baseline: scroll every event ($n events)" >&2
  /usr/bin/time -f '%M %e' -o "$OUT/baseline-$n.time" \
    $BIN/esoutliers-baseline --config "$conf" --now "$NOW" >"$OUT/baseline-$n.json"
  echo "== esoutliers with tagging ($n events)" >&2
  $BIN/esoutliers -q run --config "$conf" --now "$NOW" --format json >"$OUT/esoutliers-tag-$n.json"

  python3 - "$n" "$OUT" <<'PY'
import json, sys
n, out = sys.argv[1], sys.argv[2]
e = json.load(open(f"{out}/esoutliers-{n}.json"))["use_cases"][0]
t = json.load(open(f"{out}/esoutliers-tag-{n}.json"))["use_cases"][0]
b = json.load(open(f"{out}/baseline-{n}.json"))[0]
e_rss, e_wall = open(f"{out}/esoutliers-{n}.time").read().split()
b_rss, b_wall = open(f"{out}/baseline-{n}.time").read().split()
mine = sorted((o["aggregator"], o["target"], o["term_count"]) for o in e["outliers"])
theirs = sorted(tuple(x) for x in b["outliers"])
same = mine == theirs
res = {
  "events": int(n), "same_outliers": same, "outlier_pairs": len(mine),
  "esoutliers": {"detection_ms": e["detection_ms"], "es_took_ms": e["es_took_ms"], "bytes_received": e["bytes_received"],
                 "requests": e["requests"], "pages": e["pages"], "buckets": e["buckets_read"], "peak_rss_kib": int(e_rss),
                 "process_wall_s": float(e_wall), "tagging_ms": t["tagging_ms"], "tagged": (t.get("tagging") or {}).get("updated")},
  "baseline": {"detection_ms": b["detection_ms"], "bytes_received": b["bytes_received"], "requests": b["requests"],
               "events_read": b["events_read"], "pairs": b["pairs"], "peak_rss_kib": int(b_rss), "process_wall_s": float(b_wall)},
}
res["ratios"] = {
  "baseline_over_esoutliers_time": round(b["detection_ms"] / max(e["detection_ms"], 1), 1),
  "bytes_received_over_raw_event_bytes_pct": round(100.0 * e["bytes_received"] / max(b["bytes_received"], 1), 4),
  "engine_time_over_took": round(e["detection_ms"] / max(e["es_took_ms"], 1), 3),
}
json.dump(res, open(f"{out}/{n}.json", "w"), indent=2)
E, B, R = res["esoutliers"], res["baseline"], res["ratios"]
print(f"\n### {int(n):,} events (same outlier pairs: {same}, {len(mine)} pairs)\n")
print("| | esoutliers | scan baseline |\n|---|---:|---:|")
print(f"| detection wall time | {E['detection_ms']:,} ms | {B['detection_ms']:,} ms |")
print(f"| Elasticsearch `took` (sum over pages) | {E['es_took_ms']:,} ms | - |")
print(f"| bytes received | {E['bytes_received']:,} | {B['bytes_received']:,} |")
print(f"| requests | {E['requests']:,} | {B['requests']:,} |")
print(f"| peak RSS | {E['peak_rss_kib']/1024:.1f} MiB | {B['peak_rss_kib']/1024:.1f} MiB |")
print(f"| tagging wall time | {E['tagging_ms']:,} ms ({E['tagged']} events) | - |")
print(f"\nbaseline / esoutliers time: {R['baseline_over_esoutliers_time']}x; bytes received / raw event bytes: {R['bytes_received_over_raw_event_bytes_pct']}%; engine time / took: {R['engine_time_over_took']}")
if not same:
    print("MISMATCH: outlier sets differ", file=sys.stderr); sys.exit(1)
PY
done
