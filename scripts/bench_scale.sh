#!/usr/bin/env bash
# make bench-scale (also part of make bench): esoutliers' terms counting at scale (issue 14),
# detection only (--dry-run), each run under /usr/bin/time (engine peak RSS).
#
# (a) Many pairs: one config, two use cases over the same events, each run alone:
#     parent -> child (aggregator process.parent.name, about 20,000 pairs) and
#     host, parent -> child (aggregator host.name,process.parent.name, about 500,000-600,000
#     pairs), at each size in BENCH_SCALE_SIZES. The number of pairs is measured with a
#     cardinality aggregation (HyperLogLog, precision_threshold 40000: about 0.5% error);
#     buckets read must equal it within 1%. Then: how detection time grows from the
#     smallest to the largest size for each shape (target: the 500k-pair use case grows no
#     faster than the 20k-pair one), and count_passes of the 500k-pair use case (events
#     Elasticsearch visited for counting / events matching; target <= 1.5).
# (b) Many use cases, over the BENCH_SCALE_MANY_EVENTS index: one config of 10 use cases,
#     5 of each shape with trigger_sensitivity 1, 2, 5, 10, 25. The whole config in one run
#     (default concurrency), the whole config with --max-concurrent-requests 1 (when the
#     binary has that flag), each use case alone, the slowest alone, and the sum of the 10
#     single runs. Targets: whole / slowest alone <= 3x. Every use case of a whole-config
#     run must report exactly the outlier pairs of its single run.
#
#   scripts/bench_scale.sh                                    # 1M and 4M events
#   BENCH_SCALE_SIZES=1000000 scripts/bench_scale.sh          # 1M only (a few minutes)
#   BENCH_SCALE_SIZES=2000000 BENCH_SCALE_HOSTS=80 scripts/bench_scale.sh
#   BENCH_SCALE_KEEP=1 scripts/bench_scale.sh                 # keep the indices for a rerun
#   BENCH_SCALE_REPEAT=1 scripts/bench_scale.sh               # one run per measurement
#
# Each measurement is run BENCH_SCALE_REPEAT times (default 3) and the run of median wall
# time is shown (the engine shares its cores with the node, and with whatever else runs).
# BENCH_SCALE_MANY_EVENTS picks the index of (b) (default: the first size).
#
# Data: esoutliers-sample (800 parents with Zipf popularity, 25 children each from a pool of
# 20,000, seed 42), loaded once into bench-scale-<events>-h<hosts> (reused while it holds
# that many events), force-merged to one segment. The shard request cache is disabled on
# that index and caches are cleared before every measured run, so no repeated counting
# request (between runs or between use cases of one run) is answered from a cache.
# Fields added by issue 14 (partitions, count_passes, count_shared_with) print `-` when the
# binary does not report them. Markdown tables on stdout; files in bench-out/scale/.
# Exits non-zero when an assertion fails (buckets vs cardinality, outliers whole vs alone).
set -euo pipefail
cd "$(dirname "$0")/.."
ES_URL=${ES_URL:-http://127.0.0.1:${ES_PORT:-9200}}
export ES_URL
SIZES=${BENCH_SCALE_SIZES:-"1000000 4000000"}
MANY_EVENTS=${BENCH_SCALE_MANY_EVENTS:-${SIZES%% *}}
KEEP=${BENCH_SCALE_KEEP:-0}
REPEAT=${BENCH_SCALE_REPEAT:-3}
NOW=2026-11-28T00:00:00Z
LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
OUT=bench-out/scale
rm -rf "$OUT"
mkdir -p "$OUT"

cargo build --release --quiet --workspace
BIN=target/release

# Hosts per size, so that host, parent -> child keeps about 500,000-600,000 pairs (the
# cardinality of host.name|process.parent.name|process.name as measured once):
hosts_for() {
  if [ -n "${BENCH_SCALE_HOSTS:-}" ]; then echo "$BENCH_SCALE_HOSTS"; return; fi
  case $1 in
    1000000) echo 300 ;; # 569,511 (parent -> child: 19,967)
    4000000) echo 36 ;;  # 551,910 (parent -> child: 20,005)
    *) echo "no host count for $1 events: set BENCH_SCALE_HOSTS" >&2; exit 2 ;;
  esac
}

count() { curl -fsS "$ES_URL/$1/_count" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])' 2>/dev/null || echo 0; }

# Distinct values of the given fields joined (events lacking one of them are not counted).
cardinality() { # index '["field", ...]'
  curl -fsS -XPOST "$ES_URL/$1/_search?size=0&request_cache=false" -H 'Content-Type: application/json' -d '{
    "aggs": { "c": { "cardinality": { "precision_threshold": 40000, "script": { "lang": "painless",
      "params": { "f": '"$2"' },
      "source": "String s = \"\"; for (String f : params.f) { if (doc[f].size() == 0) { return null; } s += doc[f].value + \"|\"; } return s;" } } } } }' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["aggregations"]["c"]["value"])'
}

load() { # events hosts index
  if [ "$(count "$3")" != "$1" ]; then
    echo "== loading $1 events ($2 hosts) into $3" >&2
    $BIN/esoutliers-sample load --url "$ES_URL" --index "$3" --events "$1" --hosts "$2" --parents 800 \
      --children 20000 --children-per-parent 25 --parent-skew 1.0 --seed 42 --now "$NOW" --replace >&2
    curl -fsS -XPOST "$ES_URL/$3/_forcemerge?max_num_segments=1" >/dev/null
    curl -fsS -XPOST "$ES_URL/$3/_refresh" >/dev/null
  fi
  curl -fsS -XPUT "$ES_URL/$3/_settings" -H 'Content-Type: application/json' \
    -d '{ "index": { "requests": { "cache": { "enable": false } } } }' >/dev/null
}

use_case() { # section aggregator sensitivity
  cat <<CONF

[$1]
aggregator=$2
target=process.name
target_count_method=within_aggregator
trigger_on=low
trigger_method=pct_of_avg_value
trigger_sensitivity=$3
outlier_type=process execution
outlier_reason=rare child process
outlier_summary=rare child process {process.name} for {process.parent.name} on {host.name}
CONF
}

general() { # index
  cat <<CONF
[general]
es_index_pattern=$1
timestamp_field=@timestamp
history_window_days=30
history_window_hours=0
es_save_results=0
CONF
}

# One measurement: REPEAT runs, each with the caches cleared first, detection under
# /usr/bin/time. Writes $OUT/<label>.<r>.json (the report) and $OUT/<label>.<r>.time
# ("peak-RSS-KiB wall-seconds"); the tables show the run of median wall time.
measure() { # label index config [esoutliers run options...]
  local label=$1 idx=$2 conf=$3 r
  shift 3
  for ((r = 1; r <= REPEAT; r++)); do
    curl -fsS -XPOST "$ES_URL/$idx/_cache/clear" >/dev/null
    echo "== $label ($r/$REPEAT)" >&2
    /usr/bin/time -f '%M %e' -o "$OUT/$label.$r.time" \
      $BIN/esoutliers -q run --config "$conf" --now "$NOW" --dry-run --format json "$@" >"$OUT/$label.$r.json"
  done
}

PC=terms_parent_child
HPC=terms_host_parent_child
SENS="1 2 5 10 25"
SEQ=0
if $BIN/esoutliers run --help | grep -q -- '--max-concurrent-requests'; then SEQ=1; fi
: >"$OUT/manifest"

for n in $SIZES; do
  h=$(hosts_for "$n")
  idx="bench-scale-$n-h$h"
  load "$n" "$h" "$idx"
  pc_pairs=$(cardinality "$idx" '["process.parent.name","process.name"]')
  hpc_pairs=$(cardinality "$idx" '["host.name","process.parent.name","process.name"]')

  # (a) the two shapes, each alone.
  conf="$OUT/a-$n.conf"
  { general "$idx"; use_case $PC process.parent.name 1; use_case $HPC host.name,process.parent.name 1; } >"$conf"
  # Warm-up, not measured: the first counting after a load is slower (the node's first
  # touch of the new segment), which would land on whichever run comes first.
  $BIN/esoutliers -q run --config "$conf" --now "$NOW" --dry-run --format json >/dev/null
  measure "a-$n-pc" "$idx" "$conf" --use-case $PC
  measure "a-$n-hpc" "$idx" "$conf" --use-case $HPC
  echo "a $n $h pc $pc_pairs" >>"$OUT/manifest"
  echo "a $n $h hpc $hpc_pairs" >>"$OUT/manifest"

  # (b) ten use cases: whole config, sequential, each alone.
  if [ "$n" = "$MANY_EVENTS" ]; then
    conf="$OUT/b-$n.conf"
    {
      general "$idx"
      for s in $SENS; do use_case "${PC}_s$s" process.parent.name "$s"; done
      for s in $SENS; do use_case "${HPC}_s$s" host.name,process.parent.name "$s"; done
    } >"$conf"
    measure "b-$n-whole" "$idx" "$conf"
    if [ "$SEQ" = 1 ]; then measure "b-$n-seq" "$idx" "$conf" --max-concurrent-requests 1; fi
    for s in $SENS; do
      for uc in "${PC}_s$s" "${HPC}_s$s"; do measure "b-$n-one-$uc" "$idx" "$conf" --use-case "$uc"; done
    done
    echo "b $n $h $SEQ" >>"$OUT/manifest"
  fi
  if [ "$KEEP" != 1 ]; then curl -fsS -XDELETE "$ES_URL/$idx" >/dev/null; fi
done

python3 - "$OUT" "$REPEAT" "$LOAD_BEFORE" <<'PY'
import json, sys
out, repeat, load_before = sys.argv[1], int(sys.argv[2]), sys.argv[3]
manifest = [l.split() for l in open(f"{out}/manifest")]
failed = []

def runs(label):
    """Every repeat of a measurement: (use case reports, peak RSS KiB, wall seconds)."""
    res = []
    for r in range(1, repeat + 1):
        ucs = json.load(open(f"{out}/{label}.{r}.json"))["use_cases"]
        for u in ucs:
            if u["status"] != "ok":
                failed.append(f"{label}.{r}: {u['name']} failed: {u['error']}")
        rss, wall = open(f"{out}/{label}.{r}.time").read().split()
        res.append((ucs, int(rss), float(wall)))
    return res

def median(label, key=lambda run: run[2]):
    """The repeat of median key (default: process wall time; the lower middle one for an
    even count), and the smallest and largest key over the repeats."""
    rs = sorted(runs(label), key=key)
    return rs[(len(rs) - 1) // 2], key(rs[0]), key(rs[-1])

def spread(lo, hi, fmt):
    return "" if repeat == 1 else f" ({fmt(lo)} - {fmt(hi)})"

def opt(u, key, fmt="{}"):
    v = u.get(key)
    return "-" if v is None else fmt.format(v)

def pairs(u):
    return sorted((o["aggregator"], o["target"]) for o in u["outliers"])

SHAPE = {"pc": "parent → child", "hpc": "host, parent → child"}
note = (f"median of {repeat} runs, caches cleared before each; in brackets the fastest and slowest run" if repeat > 1
        else "one run, caches cleared before it")

# (a) many pairs
rows = [m for m in manifest if m[0] == "a"]
if rows:
    print(f"\n### (a) Many pairs: each use case alone ({note})\n")
    print("| events | use case (pairs) | buckets read | partitions | pages | count_passes | requests | detection wall time | Elasticsearch took | engine peak RSS |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    det, passes, checks = {}, {}, []
    for _, n, hosts, shape, card in rows:
        n, card = int(n), int(card)
        ([u], rss, _), lo, hi = median(f"a-{n}-{shape}", key=lambda run: run[0][0]["detection_ms"])
        det[(shape, n)] = u["detection_ms"]
        passes[(shape, n)] = u.get("count_passes")
        print(f"| {n:,} ({hosts} hosts) | {SHAPE[shape]} ({card:,}) | {u['buckets_read']:,} | {opt(u, 'partitions')} | {u['pages']:,} "
              f"| {opt(u, 'count_passes', '{:.2f}')} | {u['requests']:,} | {u['detection_ms']:,} ms{spread(lo, hi, '{:,}'.format)} | {u['es_took_ms']:,} ms | {rss / 1024:.1f} MiB |")
        diff = (u["buckets_read"] - card) / card
        checks.append(f"{n:,} events, {SHAPE[shape]}: buckets read {u['buckets_read']:,}, cardinality {card:,} ({100 * diff:+.2f}%)")
        if abs(diff) > 0.01:
            failed.append(f"{n:,} events, {SHAPE[shape]}: buckets read {u['buckets_read']:,} differ from the cardinality {card:,} by more than 1%")
    print()
    for c in checks:
        print(f"- {c}")
    sizes = sorted({int(m[1]) for m in rows})
    if len(sizes) > 1:
        lo, hi = sizes[0], sizes[-1]
        r_hpc = det[("hpc", hi)] / max(det[("hpc", lo)], 1)
        r_pc = det[("pc", hi)] / max(det[("pc", lo)], 1)
        print(f"\nDetection time {hi:,} / {lo:,} events: host, parent → child {r_hpc:.2f}x, parent → child {r_pc:.2f}x "
              f"(target: the first no larger than the second: {'met' if r_hpc <= r_pc else 'not met'})")
    print()
    for n in sizes:
        p = passes[("hpc", n)]
        verdict = "-" if p is None else ("met" if p <= 1.5 else "not met")
        print(f"- count_passes of host, parent → child at {n:,} events: {'-' if p is None else f'{p:.2f}'} (target <= 1.5: {verdict})")

# (b) many use cases
for _, n, hosts, seq in [m for m in manifest if m[0] == "b"]:
    n = int(n)
    names = [u["name"] for u in median(f"b-{n}-whole")[0][0]]
    alone = {name: median(f"b-{n}-one-{name}") for name in names}
    whole_runs = [("whole config in one run (default concurrency)", f"b-{n}-whole")]
    if seq == "1":
        whole_runs.append(("whole config, `--max-concurrent-requests 1`", f"b-{n}-seq"))
    print(f"\n### (b) Many use cases: {len(names)} terms use cases over {n:,} events ({note})\n")
    print("| what | wall time | Elasticsearch took (sum over use cases) | requests | engine peak RSS |")
    print("|---|---:|---:|---:|---:|")
    walls = {}
    for what, label in whole_runs:
        (ucs, rss, wall), lo, hi = median(label)
        walls[label] = wall
        print(f"| {what} | {wall:.2f} s{spread(lo, hi, '{:.2f}'.format)} | {sum(u['es_took_ms'] for u in ucs):,} ms | {sum(u['requests'] for u in ucs):,} | {rss / 1024:.1f} MiB |")
        if any("count_shared_with" in u for u in ucs):
            shared = sum(1 for u in ucs if u.get("count_shared_with"))
            print(f"| ↳ use cases that reused another's counts | {shared} of {len(ucs)} | | | |")
        # Every repeat, every use case: the same outlier pairs as its run alone.
        for r, (rucs, _, _) in enumerate(runs(label), 1):
            if sorted(u["name"] for u in rucs) != sorted(names):
                failed.append(f"{label}.{r}: use cases {sorted(u['name'] for u in rucs)} != {sorted(names)}")
            for u in rucs:
                if u["name"] in alone and pairs(u) != pairs(alone[u["name"]][0][0][0]):
                    failed.append(f"{label}.{r}: {u['name']}: outliers differ from its run alone "
                                  f"({len(u['outliers'])} vs {len(alone[u['name']][0][0][0]['outliers'])})")
    slow = max(alone, key=lambda k: alone[k][0][2])
    ([su], srss, swall), lo, hi = alone[slow]
    print(f"| slowest use case alone ({slow}) | {swall:.2f} s{spread(lo, hi, '{:.2f}'.format)} | {su['es_took_ms']:,} ms | {su['requests']:,} | {srss / 1024:.1f} MiB |")
    single = [a[0] for a in alone.values()]
    one = sum(a[2] for a in single)
    print(f"| one by one ({len(single)} runs, summed; RSS: the largest) | {one:.2f} s | {sum(a[0][0]['es_took_ms'] for a in single):,} ms "
          f"| {sum(a[0][0]['requests'] for a in single):,} | {max(a[1] for a in single) / 1024:.1f} MiB |")
    w = walls[f"b-{n}-whole"]
    print(f"\nWhole config / slowest alone: {w / swall:.2f}x (target <= 3x: {'met' if w / swall <= 3 else 'not met'}); "
          f"whole config / one by one: {w / one:.2f}x")
    same = not any(f.startswith(f"b-{n}-") for f in failed)
    print(f"\nOutliers per use case (every whole-config run gave each use case the pairs of its run alone: {'yes' if same else 'NO'}): "
          + ", ".join(f"{u['name']} {len(u['outliers'])}" for u in median(f"b-{n}-whole")[0][0]))

print(f"\nMachine load average (1 min) when the script started / ended: {load_before} / {open('/proc/loadavg').read().split()[0]}")

if failed:
    print("\nFAILED:\n" + "\n".join(f"- {f}" for f in failed), file=sys.stderr)
    sys.exit(1)
PY
