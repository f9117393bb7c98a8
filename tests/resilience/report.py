"""Turn a run of the resilience suite into the table of README.md: one row per test
(its parametrised cases counted together), what was tried and what came of it, then the figures
the load test recorded."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

AREAS = {  # module -> the heading of its rows, in the order of the issue
    "test_odd_recordings": "Odd recordings",
    "test_model_faults": "Model faults",
    "test_backend_faults": "SQL, search and Jira faults",
    "test_nothing_lost": "Nothing lost",
    "test_exactly_once": "Nothing twice",
    "test_abuse": "Abuse",
    "test_hostile_replies": "Hostile model replies",
    "test_secrets": "Secrets",
    "test_page_and_files": "Page, files and secrets",
    "test_load": "Load",
    "test_customer_binding": "Customer binding",
    "test_offline_server": "Offline server",
    "test_voicelive_faults": "Azure AI Voice Live",
    "test_cascade_faults": "Cascade mode faults",
    "test_live_faults": "Live mode faults",
    "test_offline_realtime": "Offline realtime",
    "test_azure_speech_faults": "Azure AI Speech faults",
    "test_live_page": "Live mode in the page",
}
START, END = "<!-- resilience-results -->", "<!-- /resilience-results -->"
MAX_CASES_SHOWN = 12


@dataclass
class Row:
    area: str
    tried: str
    cases: list[str] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)  # case -> passed/failed/skipped

    def result(self) -> str:
        counts = defaultdict(int)
        for outcome in self.outcomes.values():
            counts[outcome] += 1
        total = len(self.outcomes)
        if counts["passed"] == total:
            return f"pass ({total}/{total})" if total > 1 else "pass"
        failed = [c or "-" for c, o in self.outcomes.items() if o != "passed"]
        words = ", ".join(f"{n} {o}" for o, n in sorted(counts.items()))
        return f"**{words}**: {', '.join(failed[:MAX_CASES_SHOWN])}"


class Collector:
    """A pytest plugin: the outcome of every test of the suite, and the properties it recorded."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], Row] = {}
        self.properties: dict[str, object] = {}

    def pytest_runtest_logreport(self, report) -> None:
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            module, name, case = _split(report.nodeid)
            key = (module, name)
            if key not in self.rows:
                self.rows[key] = Row(AREAS.get(module, module), _words(name))
            row = self.rows[key]
            if case not in row.outcomes:
                row.cases.append(case)
            row.outcomes[case] = report.outcome
            self.properties.update(dict(report.user_properties))


def _split(nodeid: str) -> tuple[str, str, str]:
    path, _, test = nodeid.partition("::")
    name, _, case = test.partition("[")
    return Path(path).stem, name, case.rstrip("]")


WORDS = {"cli": "command line", "sql": "SQL", "jira": "Jira", "mb": "MB", "unixodbc": "unixODBC",
         "microsoft": "Microsoft", "doctor": "`doctor`"}  # fmt: skip


def _words(name: str) -> str:
    text = name.removeprefix("test_").replace("_", " ")
    text = re.sub(r"\b(\w+)\b", lambda m: WORDS.get(m.group(1), m.group(1)), text)
    return text[0].upper() + text[1:]


def _cases(row: Row) -> str:
    shown = [c for c in row.cases if c][:MAX_CASES_SHOWN]
    if not shown:
        return ""
    more = len([c for c in row.cases if c]) - len(shown)
    return ": " + ", ".join(f"`{c}`" for c in shown) + (f" and {more} more" if more else "")


def render(collector: Collector) -> str:
    order = list(AREAS.values())
    rows = sorted(
        collector.rows.values(),
        key=lambda r: order.index(r.area) if r.area in order else len(order),
    )
    lines = ["| Area | What was tried | Result |", "| --- | --- | --- |"]
    for row in rows:
        tried = (row.tried + _cases(row)).replace("|", "\\|")
        lines.append(f"| {row.area} | {tried} | {row.result()} |")
    props = collector.properties
    if "own_p50_ms" in props:
        lines += [
            "",
            f"Load figures (this machine): {props['sessions']} sessions, {props['turns']} turns in "
            f"{props['elapsed_s']} s; the app's own time per turn (the turn less the wait for the "
            f"model) p50 {props['own_p50_ms']} ms, p95 {props['own_p95_ms']} ms; whole turn with "
            f"the in-process model double p50 {props['wall_p50_ms']} ms, p95 "
            f"{props['wall_p95_ms']} ms. One session alone, first: the app's own time p50 "
            f"{props['alone_p50_ms']} ms, p95 {props['alone_p95_ms']} ms.",
        ]
    return "\n".join(lines)


def write_into(path: Path, table: str) -> None:
    """Replace the text between the result markers of `path` with `table`."""
    text = path.read_text(encoding="utf-8")
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    if not rest:
        raise SystemExit(f"{path} has no {START} ... {END} markers")
    path.write_text(f"{before}{START}\n{table}\n{END}{after}", encoding="utf-8")
