#!/usr/bin/env python3
"""Runs esoutliers on one parity case and lists how its result differs from expected.json
(what ee-outliers 0.2.17 wrote, see make_expected.py).

  ES_URL=http://127.0.0.1:9200 ESOUTLIERS_BIN=target/release/esoutliers REFERENCE_DIR=<dir of peer_lib.py> \\
    python3 tests/parity/check.py tests/parity/<model> [--now 2026-11-28T00:00:00Z]

esoutliers gets the same general part, the same extra sections and the whole use_cases.conf
in one run (it runs use cases in file order). Output: peer_lib.compare's summary (ids only
one side tagged, every outliers.* / tags field that differs, with examples). Exit 1 when
anything differs.
"""
import argparse
import json
import os
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case")
    ap.add_argument("--now", default="2026-11-28T00:00:00Z")
    ap.add_argument("--history-days", type=int, default=36500)
    ap.add_argument("--examples", type=int, default=3)
    a = ap.parse_args()
    ref = os.environ.get("REFERENCE_DIR")
    if not ref:
        sys.exit("set REFERENCE_DIR to the directory holding peer_lib.py")
    sys.path.insert(0, ref)
    import peer_lib as L  # noqa: E402

    case = os.path.abspath(a.case)
    name = os.path.basename(case)
    work = os.path.join(os.environ.get("PEER_OUT", os.path.join(L.TMP, "peer-out")), "check-" + name)
    pristine, idx = f"parity-{name}-pristine", f"parity-{name}-es"
    L.load_pristine(pristine, os.path.join(case, "events.jsonl"))
    L.fresh_copy(pristine, idx)
    extra_path = os.path.join(case, "extra.conf")
    extra = open(extra_path).read() if os.path.exists(extra_path) else ""
    _, _, conf = L.write_configs(work, "unused", idx, open(os.path.join(case, "use_cases.conf")).read(), extra,
                                 history_days=a.history_days)
    _, rc, _ = L.run_esoutliers(conf, os.path.join(work, "esoutliers.json"), os.path.join(work, "esoutliers.log"),
                                extra_args=["--now", a.now])
    expected = json.load(open(os.path.join(case, "expected.json")))
    ee_hits = {i: {"_source": v} for i, v in expected.items()}
    es_hits = {i: {"_source": {"outliers": h["_source"].get("outliers"), "tags": h["_source"].get("tags")}}
               for i, h in L.tagged(idx).items()}
    result = L.compare(ee_hits, es_hits, examples=a.examples)
    result.update({"esoutliers_exit": rc, "logs": work})
    json.dump(result, sys.stdout, indent=2, ensure_ascii=False)
    print()
    return 0 if not (result["only_ee"] or result["only_es"] or result["field_diffs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
