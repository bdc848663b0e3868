#!/usr/bin/env bash
# The metrics benchmark (issue 13): esoutliers' metrics model pushed down (Elasticsearch
# counts events per distinct (process.name, command line), esoutliers measures each
# distinct line once) against a scan of the same events (what ee-outliers does: every
# event's _source crosses the network), same node, same data, same use case
# (queries/metrics_base64_command_line.conf).
#
#   BENCH_METRICS_EVENTS=1000000 scripts/bench_metrics.sh
#
# Loads the data once (reused while the index holds that many events): about 100,000
# distinct command lines in 1M events (esoutliers-sample --children 200 --cmd-variants 1000)
# and three planted base64 events. Runs esoutliers --dry-run and the scan under
# /usr/bin/time (peak RSS), checks that esoutliers found the planted events, then runs
# esoutliers for real (tagging). Results: bench-out/metrics-<n>.json and a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
ES_URL=${ES_URL:-http://127.0.0.1:${ES_PORT:-9200}}
export ES_URL
N=${BENCH_METRICS_EVENTS:-1000000}
NOW=${BENCH_NOW:-2026-11-28T00:00:00Z}
OUT=bench-out
mkdir -p "$OUT"

cargo build --release --quiet --workspace
BIN=target/release

count() { curl -fsS "$ES_URL/$1/_count" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])' 2>/dev/null || echo 0; }

idx="bench-metrics-$N"
if [ "$(count "$idx")" != "$N" ]; then
  echo "== loading $N events into $idx" >&2
  $BIN/esoutliers-sample load --index "$idx" --events "$N" --hosts 300 --parents 30 --children 200 \
    --cmd-variants 1000 --seed 42 --days 7 --now "$NOW" --replace --batch 5000 --parallel 3
  curl -fsS -XPOST "$ES_URL/$idx/_forcemerge?max_num_segments=1" >/dev/null || true
fi
conf="$OUT/bench-metrics-$N.conf"
sed -e "s/^es_index_pattern=.*/es_index_pattern=$idx/" queries/metrics_base64_command_line.conf >"$conf"
# A run leaves the planted events tagged; remove that so every run starts alike.
$BIN/esoutliers -q untag --config "$conf" >/dev/null 2>&1 || true

echo "== esoutliers metrics detection ($N events)" >&2
/usr/bin/time -f '%M %e' -o "$OUT/metrics-esoutliers-$N.time" \
  $BIN/esoutliers -q run --config "$conf" --now "$NOW" --dry-run --format json >"$OUT/metrics-esoutliers-$N.json"
echo "== scan of the same events ($N events)" >&2
/usr/bin/time -f '%M %e' -o "$OUT/metrics-scan-$N.time" \
  $BIN/esoutliers-baseline --config "$conf" --now "$NOW" >"$OUT/metrics-scan-$N.json"
echo "== esoutliers metrics with tagging ($N events)" >&2
$BIN/esoutliers -q run --config "$conf" --now "$NOW" --format json >"$OUT/metrics-esoutliers-tag-$N.json"

python3 - "$N" "$OUT" <<'PY'
import json, sys
n, out = sys.argv[1], sys.argv[2]
e = json.load(open(f"{out}/metrics-esoutliers-{n}.json"))["use_cases"][0]
t = json.load(open(f"{out}/metrics-esoutliers-tag-{n}.json"))["use_cases"][0]
b = json.load(open(f"{out}/metrics-scan-{n}.json"))[0]
e_rss, e_wall = open(f"{out}/metrics-esoutliers-{n}.time").read().split()
b_rss, b_wall = open(f"{out}/metrics-scan-{n}.time").read().split()
planted = [o for o in e["outliers"] if "SQBFAFgA" in (o["target"] or "")]
found = len(planted) == 1 and planted[0]["term_count"] == 3
res = {
  "events": int(n), "planted_found": found, "outlier_pairs": len(e["outliers"]),
  "distinct_pairs": e["buckets_read"], "scan_pairs": b["pairs"],
  "esoutliers": {"detection_ms": e["detection_ms"], "es_took_ms": e["es_took_ms"], "bytes_received": e["bytes_received"],
                 "requests": e["requests"], "pages": e["pages"], "buckets": e["buckets_read"], "peak_rss_kib": int(e_rss),
                 "process_wall_s": float(e_wall), "tagging_ms": t["tagging_ms"], "tagged": (t.get("tagging") or {}).get("updated")},
  "scan": {"detection_ms": b["detection_ms"], "bytes_received": b["bytes_received"], "requests": b["requests"],
           "events_read": b["events_read"], "peak_rss_kib": int(b_rss), "process_wall_s": float(b_wall)},
}
res["ratios"] = {
  "scan_over_esoutliers_time": round(b["detection_ms"] / max(e["detection_ms"], 1), 2),
  "bytes_received_over_raw_event_bytes_pct": round(100.0 * e["bytes_received"] / max(b["bytes_received"], 1), 3),
}
json.dump(res, open(f"{out}/metrics-{n}.json", "w"), indent=2)
E, B, R = res["esoutliers"], res["scan"], res["ratios"]
print(f"\n### metrics, {int(n):,} events, {res['distinct_pairs']:,} distinct (process.name, command line) (planted events found: {found})\n")
print("| | esoutliers | scan of the same events |\n|---|---:|---:|")
print(f"| detection wall time | {E['detection_ms']:,} ms | {B['detection_ms']:,} ms |")
print(f"| Elasticsearch `took` (sum over pages) | {E['es_took_ms']:,} ms | - |")
print(f"| composite pages / buckets | {E['pages']} / {E['buckets']:,} | - |")
print(f"| bytes received | {E['bytes_received']:,} | {B['bytes_received']:,} |")
print(f"| requests | {E['requests']:,} | {B['requests']:,} |")
print(f"| engine peak RSS | {E['peak_rss_kib']/1024:.1f} MiB | {B['peak_rss_kib']/1024:.1f} MiB |")
print(f"| tagging wall time | {E['tagging_ms']:,} ms ({E['tagged']} events) | - |")
print(f"\nscan / esoutliers time: {R['scan_over_esoutliers_time']}x; bytes received / raw event bytes: {R['bytes_received_over_raw_event_bytes_pct']}%")
if not found:
    print("MISSING: the planted base64 events were not found", file=sys.stderr); sys.exit(1)
PY
