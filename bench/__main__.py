"""`python -m bench`: run the benchmarks and print a table (or, with --json, one JSON object).

    python -m bench                  # the full run (up to ~20 minutes), a table
    python -m bench --json           # the same, as one JSON object on standard output
    python -m bench --quick          # a small run, to check the benchmarks still work (seconds)
    python -m bench --only turn,uploads --skip page_answer
    python -m bench --markdown docs/performance-table.md   # also write the table in Markdown

Progress goes to standard error. A figure that cannot be measured here is null, with the reason
under "unavailable". The exit status is 1 when a benchmark failed, 0 otherwise (goals missed
or not, figures unavailable or not).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.machine import describe
from bench.report import goal_status, markdown_table, table
from bench.sections import SECTIONS, Section, all_keys


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small run that checks it works")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    names = ", ".join(s.name for s in SECTIONS)
    parser.add_argument("--only", default="", help=f"comma-separated sections: {names}")
    parser.add_argument("--skip", default="", help="comma-separated sections to leave out")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    parser.add_argument("--debug", action="store_true", help="print tracebacks of failures")
    return parser.parse_args(argv)


def chosen(only: str, skip: str) -> list[Section]:
    known = {s.name for s in SECTIONS}
    wanted = {n.strip() for n in only.split(",") if n.strip()}
    unwanted = {n.strip() for n in skip.split(",") if n.strip()}
    unknown = sorted((wanted | unwanted) - known)
    if unknown:
        raise SystemExit(
            f"Unknown section {unknown[0]!r}; the sections are {', '.join(sorted(known))}."
        )
    return [s for s in SECTIONS if (not wanted or s.name in wanted) and s.name not in unwanted]


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def run_section(section: Section, quick: bool, debug: bool) -> tuple[dict[str, Any], str | None]:
    """(its output, None) or ({}, why it has no figures)."""
    if quick and section.not_in_quick:
        return {}, section.not_in_quick
    reason = section.unavailable()
    if reason:
        return {}, reason
    try:
        return section.run(quick), None
    except Exception as exc:  # one broken benchmark must not hide the others' figures
        if debug:
            traceback.print_exc(file=sys.stderr)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return {}, f"the benchmark failed: {first[:300]}"


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    selected = chosen(args.only, args.skip)
    started = time.perf_counter()
    load_before = _load_average()
    results: dict[str, Any] = dict.fromkeys(all_keys())
    unavailable: dict[str, str] = {}
    details: dict[str, Any] = {}
    failed = False
    for section in SECTIONS:
        if section not in selected:
            unavailable.update(dict.fromkeys(section.keys, "not run (--only/--skip)"))
            continue
        print(f"bench: {section.name}…", file=sys.stderr, flush=True)
        section_started = time.perf_counter()
        output, reason = run_section(section, args.quick, args.debug)
        if reason is not None and reason.startswith("the benchmark failed"):
            failed = True
            print(f"bench: {section.name}: {reason}", file=sys.stderr, flush=True)
        for key in section.keys:
            value = output.get(key)
            if is_number(value):
                results[key] = value
            else:
                unavailable[key] = reason or output.get("details", {}).get(
                    f"{key}_unavailable", "the benchmark gave no figure"
                )
        details[section.name] = {
            **output.get("details", {}),
            "seconds": round(time.perf_counter() - section_started, 1),
        }
    results["machine"] = describe()
    results["unavailable"] = unavailable
    results["goals"] = goal_status(results, args.quick)
    results["details"] = details
    results["run"] = {
        "quick": args.quick,
        "command": "python -m bench" + "".join(f" {a}" for a in (argv or sys.argv[1:])),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
        "load_average_before": load_before,
        "load_average_after": _load_average(),
    }
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
    else:
        print(table(results))
    if args.markdown:
        args.markdown.write_text(markdown_table(results) + "\n", encoding="utf-8")
    return 1 if failed else 0


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("bench: interrupted.", file=sys.stderr)
        sys.exit(130)
