"""Figures measured by benchmarks other people own: bench/offline.py (the offline engine) and
bench/page_rerun.py (the page's rerun). This module only finds and calls them."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from typing import Any

OFFLINE_KEYS = ("offline_turn_s_median", "offline_cold_start_s", "offline_peak_rss_mb")
RERUN_KEYS = ("page_rerun_ms_p95",)


def offline_unavailable() -> str | None:
    return _missing("bench.offline")


def page_rerun_unavailable() -> str | None:
    return _missing("bench.page_rerun")


def offline(quick: bool) -> dict[str, Any]:
    return _call("bench.offline", OFFLINE_KEYS, quick)


def page_rerun(quick: bool) -> dict[str, Any]:
    return _call("bench.page_rerun", RERUN_KEYS, quick)


def _missing(module: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return f"{module.replace('.', '/')}.py is not in the tree yet"
    return None


def _call(module_name: str, keys: tuple[str, ...], quick: bool) -> dict[str, Any]:
    module = importlib.import_module(module_name)
    function = getattr(module, "run", None)
    if not callable(function):
        raise RuntimeError(f"{module_name} has no run() function")
    accepts_quick = "quick" in inspect.signature(function).parameters
    result = function(quick=quick) if accepts_quick else function()
    if not isinstance(result, dict):
        raise RuntimeError(f"{module_name}.run() did not return a dict")
    figures: dict[str, Any] = {key: result.get(key) for key in keys}
    figures["details"] = {k: v for k, v in result.items() if k not in keys}
    return figures
