"""The results as one JSON object, and as a table people read."""

from __future__ import annotations

from typing import Any

from bench.sections import BASELINES, SECTIONS


def goal_status(results: dict[str, Any], quick: bool) -> dict[str, dict[str, Any]]:
    """For every figure: its goal as text and whether it is met (None: no goal, no figure, or
    a quick run, whose small sizes say nothing about the goals)."""
    status = {}
    for section in SECTIONS:
        for figure in section.figures:
            value = results.get(figure.key)
            met = figure.goal.met(value)
            if figure.key in BASELINES:
                ours = results.get(BASELINES[figure.key])
                met = None if value is None or ours is None else ours >= value
            status[figure.key] = {"goal": figure.goal.text or None, "met": None if quick else met}
    return status


def shown_number(value: float) -> str:
    """Three significant digits, as precise as repeated runs on a shared machine allow."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def table(results: dict[str, Any]) -> str:
    machine = results["machine"]
    run = results["run"]
    goals = results["goals"]
    lines = [
        f"VoiceDesk benchmarks — {'QUICK run: smoke values, not figures' if run['quick'] else 'full run'}",
        f"{machine['cores']} cores ({machine['cpu']}), {machine['memory_gb']} GB, "
        f"Python {machine['python']}, SQLite {machine['sqlite']}, commit {machine['commit']}; "
        f"load average {run['load_average_before']} before, {run['load_average_after']} after",
        "",
    ]
    rows = [("figure", "what", "value", "goal", "met")]
    notes = []
    for section in SECTIONS:
        for figure in section.figures:
            value = results.get(figure.key)
            goal = goals[figure.key]
            if value is None:
                shown = "n/a"
                notes.append(f"{figure.key}: {results['unavailable'].get(figure.key, 'no figure')}")
            else:
                shown = f"{shown_number(value)} {figure.unit}".strip()
            mark = {True: "yes", False: "NO", None: ""}[goal["met"]]
            rows.append((figure.key, figure.what, shown, goal["goal"] or "", mark))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    if notes:
        lines += ["", "Not measured:"] + [f"  {note}" for note in notes]
    lines += ["", f"{run['seconds']:.0f} s; command: {run['command']}"]
    return "\n".join(lines)


def markdown_table(results: dict[str, Any]) -> str:
    """The same table in Markdown, for the README's Performance section."""
    goals = results["goals"]
    lines = ["| figure | what | value | goal | met |", "| --- | --- | --- | --- | --- |"]
    for section in SECTIONS:
        for figure in section.figures:
            value = results.get(figure.key)
            if value is None:
                reason = results["unavailable"].get(figure.key, "no figure")
                shown = f"n/a ({reason})"
            else:
                shown = f"{shown_number(value)} {figure.unit}".strip()
            met = {True: "yes", False: "**no**", None: ""}[goals[figure.key]["met"]]
            goal = goals[figure.key]["goal"] or ""
            lines.append(f"| `{figure.key}` | {figure.what} | {shown} | {goal} | {met} |")
    return "\n".join(lines)
