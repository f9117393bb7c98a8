"""Is every backend able to serve? `python -m assistant doctor` and the page's sidebar ask here.

Each tool's backend (cloud or embedded, whichever the settings choose) runs its own `check()`,
all at once, each bounded in time; a row says where it is (a host or a file, never a secret),
whether it answered, how fast, and when it did not, the one sentence that says what to do.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from assistant.config import Settings, safe_url

log = logging.getLogger(__name__)

TOOLS = (  # (attribute of tools.backends.Backends, what it serves)
    ("stats", "Player statistics"),
    ("search", "Help centre"),
    ("grievances", "Grievances"),
)
BACKEND_NAMES = {
    "OdbcStats": "Azure SQL (ODBC)",
    "SqliteStats": "SQLite demo file",
    "AzureHelpSearch": "Azure AI Search",
    "LocalHelpSearch": "local full-text index",
    "JiraGrievances": "Jira Cloud",
    "LocalGrievances": "local ticket store",
}


@dataclass(frozen=True)
class Row:
    tool: str  # "Player statistics"
    backend: str  # "Azure SQL (ODBC)"
    kind: str  # "cloud" or "embedded"
    where: str  # a host, host/database or a file; never a secret
    ok: bool
    latency: float | None  # ms the check took; None when it did not finish in time
    fix: str | None = None  # what to do, one sentence, when not ok
    note: str | None = None  # worth knowing even when ok (e.g. grievances waiting to be sent)

    def line(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        took = f"{self.latency:.0f} ms" if self.latency is not None else "timed out"
        text = f"{mark} {self.tool:18} {self.backend} ({self.kind}) at {self.where}, {took}"
        for extra in (self.fix, self.note):
            if extra:
                text += f"\n     {extra}"
        return text


def check_backends(
    settings: Settings, backends: Any = None, timeout: float | None = None
) -> list[Row]:
    """One Row per tool backend. Pass the app's `backends` to check those very objects;
    otherwise they are built from the settings (no I/O until checked) and closed after."""
    from assistant.service import build_backends

    timeout = timeout or min(settings.voicedesk_tool_timeout, 10.0)
    owned = backends is None
    if owned:
        try:
            backends = build_backends(settings)
        except Exception as exc:  # a constructor should never fail; say so rather than crash
            log.exception("building the backends failed")
            return [Row("Backends", "all", "-", "-", False, None,
                        f"The backends could not be set up ({type(exc).__name__}); see the log.")]  # fmt: skip
    try:
        return _check_all(settings, backends, timeout)
    finally:
        if owned:
            for attr, _ in TOOLS:
                close = getattr(getattr(backends, attr, None), "close", None)
                if callable(close):
                    close()


def _check_all(settings: Settings, backends: Any, timeout: float) -> list[Row]:
    results: dict[str, tuple[float | None, str | None]] = {}

    def run(attr: str, backend: Any) -> None:
        results[attr] = _timed_check(backend)

    threads = []
    for attr, _ in TOOLS:
        # Daemon threads: a check stuck in a driver must not keep the command from exiting.
        thread = threading.Thread(
            target=run, args=(attr, getattr(backends, attr)), daemon=True, name=f"doctor-{attr}"
        )
        thread.start()
        threads.append(thread)
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    rows = []
    for attr, label in TOOLS:
        backend = getattr(backends, attr)
        latency, fix = results.get(attr, (None, None))
        if attr not in results:
            fix = f"It did not answer within {timeout:g} seconds."
        rows.append(
            Row(
                tool=label,
                backend=_describe(backend),
                kind=getattr(backend, "kind", "embedded"),
                where=safe_url(str(getattr(backend, "where", ""))) or "",
                ok=attr in results and fix is None,
                latency=latency,
                fix=fix,
                note=_note(settings, attr, backend),
            )
        )
    return rows


def _timed_check(backend: Any) -> tuple[float | None, str | None]:
    from tools.base import ToolUnavailable

    started = time.perf_counter()
    try:
        backend.check()
    except ToolUnavailable as exc:
        return (time.perf_counter() - started) * 1000, str(exc)
    except Exception as exc:
        log.exception("backend check failed")
        return (time.perf_counter() - started) * 1000, (
            f"The check failed unexpectedly ({type(exc).__name__}); the details are in the log."
        )
    return (time.perf_counter() - started) * 1000, None


def _describe(backend: Any) -> str:
    name = BACKEND_NAMES.get(type(backend).__name__, type(backend).__name__)
    mode, auth = getattr(backend, "mode", None), getattr(backend, "auth", None)
    details = ", ".join(str(d) for d in (mode, auth) if d)
    if type(backend).__name__ == "OdbcStats":
        details = "Entra ID" if backend.connector.entra else "connection string"
    return f"{name} ({details})" if details else name


def _note(settings: Settings, attr: str, backend: Any) -> str | None:
    """Grievances queued for Jira are worth a line whichever backend is in force."""
    if attr != "grievances":
        return None
    from pathlib import Path

    from tools.backends.outbox import OUTBOX_FILE, Outbox

    try:
        waiting = Outbox(Path(settings.voicedesk_data_dir) / OUTBOX_FILE).pending_count()
    except Exception:
        log.exception("reading the outbox failed")
        return "The grievance outbox could not be read; see the log."
    if not waiting:
        return None
    many = f"{waiting} grievance{' is' if waiting == 1 else 's are'} queued for Jira"
    if settings.jira_server:
        return f"{many}; they go out with the next use, or run `python -m assistant outbox flush`."
    return f"{many} but JIRA_SERVER is not set; set it and run `python -m assistant outbox flush`."


def check_model(settings: Settings) -> Row:
    """Is the model provider set up? No model call is made: that would cost money and time."""
    from assistant import providers

    return providers.get(settings.provider).doctor_row(settings)


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
