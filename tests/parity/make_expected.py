#!/usr/bin/env python3
"""Runs ee-outliers 0.2.17 alone on one parity case and saves what it wrote.

  ES_URL=http://127.0.0.1:9200 EE_OUTLIERS_DIR=... EE_VENV=... REFERENCE_DIR=<dir of peer_lib.py> \\
    python3 tests/parity/make_expected.py tests/parity/<model> [--now 2026-11-28T00:00:00Z]

A case directory holds events.jsonl, use_cases.conf and optionally extra.conf (sections for
the general part: whitelists, [assets]). The events are loaded into a pristine index, copied
once, and ee-outliers runs on the copy ONE PROCESS PER USE-CASE SECTION, in file order:
0.2.17 shuffles the use cases of one run, and a second use case of the same run that reads an
event before the first one's update is refreshed overwrites that entry (lost update), so a
single run would make multi-entry events depend on chance. Separate processes (each sleeps
8 s at start-up, well past the 1 s refresh) make the result deterministic: entries appear in
file order.

Writes <case>/expected.json: {event id: {"outliers": ..., "tags": ...}} for every event that
carries tags:outlier or outliers.summary, keys sorted, lists as written. Exit 1 when
ee-outliers' log reports a problem (it exits 0 even when a use case fails).
"""
import argparse
import json
import os
import re
import sys


def sections(text):
    """Splits an INI text into (name, raw text) chunks; text before the first section
    (comments) is dropped."""
    out, name, buf = [], None, []
    for line in text.splitlines(keepends=True):
        m = re.match(r"\s*\[([^\]]+)\]", line)
        if m:
            if name:
                out.append((name, "".join(buf)))
            name, buf = m.group(1), [line]
        elif name:
            buf.append(line)
    if name:
        out.append((name, "".join(buf)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case")
    ap.add_argument("--now", default="2026-11-28T00:00:00Z")
    ap.add_argument("--history-days", type=int, default=36500)
    a = ap.parse_args()
    ref = os.environ.get("REFERENCE_DIR")
    if not ref:
        sys.exit("set REFERENCE_DIR to the directory holding peer_lib.py")
    sys.path.insert(0, ref)
    import peer_lib as L  # noqa: E402

    case = os.path.abspath(a.case)
    name = os.path.basename(case)
    work = os.path.join(os.environ.get("PEER_OUT", os.path.join(L.TMP, "peer-out")), "parity-" + name)
    os.makedirs(work, exist_ok=True)
    pristine, idx = f"parity-{name}-pristine", f"parity-{name}-ee"
    n = L.load_pristine(pristine, os.path.join(case, "events.jsonl"))
    L.fresh_copy(pristine, idx)
    extra_path = os.path.join(case, "extra.conf")
    extra = open(extra_path).read() if os.path.exists(extra_path) else ""
    os.environ["EE_FAKE_NOW"], os.environ["TZ"] = a.now, "UTC"
    problems = {}
    for k, (sec, text) in enumerate(sections(open(os.path.join(case, "use_cases.conf")).read())):
        sub = os.path.join(work, f"{k:02d}-{sec}")
        general, usecase, _ = L.write_configs(sub, idx, "unused", text, extra, history_days=a.history_days)
        _, _, log = L.run_ee_outliers(general, usecase, os.path.join(sub, "ee-outliers.log"))
        bad = L.ee_log_problems(log)
        if bad:
            problems[sec] = bad
        print(f"{sec}: {len(L.tagged(idx))} events tagged so far; problems: {bad or 'none'}", file=sys.stderr)
    hits = L.tagged(idx)
    expected = {i: {"outliers": h["_source"].get("outliers"), "tags": h["_source"].get("tags")}
                for i, h in hits.items()}
    with open(os.path.join(case, "expected.json"), "w") as f:
        json.dump(expected, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")
    print(json.dumps({"events": n, "tagged": len(expected), "problems": problems, "logs": work}, indent=2))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
