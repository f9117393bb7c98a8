"""The tools the model is offered, and safe dispatch: validation, timeout, timing, error capture."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from tools import grievances, help_search, player_stats
from tools.backends import Backends
from tools.base import NO_CONTEXT, Tool, ToolContext, ToolResult
from tools.lanes import Lanes

log = logging.getLogger(__name__)

# What a model's call may bring in: every tool takes a flat object of a few short fields.
MAX_ARGUMENT_CHARS = 8_000
MAX_ARGUMENT_DEPTH = 8
MAX_NAME_CHARS = 64  # OpenAI's own limit for a function name
PREVIEW_CHARS = 200  # what is kept of arguments that could not be read


@dataclass(frozen=True)
class Dispatch:
    """The outcome of one tool call, whatever happened."""

    name: str
    arguments: dict[str, Any] | str  # the raw text when it was not a JSON object
    result: ToolResult
    label: str
    ms: float


class ToolRegistry:
    def __init__(self, tools: Iterable[Tool], timeout: float = 10.0, workers: int = 4):
        self.tools = {tool.name: tool for tool in tools}
        self.timeout = timeout
        # Built once: pydantic's schema generation was ~10 % of a turn's CPU when done per turn.
        self._schemas = [tool.schema() for tool in self.tools.values()]
        # Long-lived threads, `workers` per backend: a timed-out tool keeps its thread, never
        # the turn, and a hung backend holds only its own lane's threads.
        self._lanes = Lanes(timeout, workers)

    def schemas(self) -> list[dict[str, Any]]:
        return self._schemas

    def prepare(self, name: str, raw_arguments: str | None) -> tuple[Tool, Any] | Dispatch:
        """Validate a call: (tool, validated arguments), or the error Dispatch to answer with."""
        parsed, problem = _read_arguments(raw_arguments)
        tool = self.tools.get(name)
        name = name[:MAX_NAME_CHARS]  # it is quoted back to the model and kept in the trace
        if tool is None:
            known = ", ".join(self.tools)
            sentence, code = (
                f"There is no tool called '{name}'; the tools are {known}.",
                "unknown_tool",
            )
        elif problem is not None:
            sentence, code = f"The arguments for {name} {problem}.", "malformed_arguments"
        else:
            try:
                return tool, tool.args_model.model_validate(parsed)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p)[:40] for p in err['loc']) or 'arguments'}: {err['msg']}"
                    for err in exc.errors()[:3]
                )
            sentence = f"The arguments for {name} are not valid ({problems})."
            code = "invalid_arguments"
        return _error(name, parsed, sentence, code)

    def submit(
        self, name: str, raw_arguments: str | None, context: ToolContext = NO_CONTEXT
    ) -> tuple[str, Future[Dispatch]]:
        """Start one call in the pool: its human label, and a future that always resolves to a
        Dispatch. The arguments are validated once, here."""
        prepared = self.prepare(name, raw_arguments)
        if isinstance(prepared, Dispatch):
            done: Future[Dispatch] = Future()
            done.set_result(prepared)
            return prepared.label, done
        return self.start(*prepared, context=context)

    def start(
        self, tool: Tool, args: Any, context: ToolContext = NO_CONTEXT
    ) -> tuple[str, Future[Dispatch]]:
        """Start a validated call (from `prepare`) in the pool, made for `context`."""
        future = self._lanes[tool.service].submit(
            lambda: self._run(tool, args, context),
            refuse=lambda sentence: _error(
                tool.name, args.model_dump(mode="json"), sentence, "not_answering"
            ),
        )
        return tool.label(args), future

    def run(
        self, name: str, raw_arguments: str | None, context: ToolContext = NO_CONTEXT
    ) -> Dispatch:
        return self.wait(self.submit(name, raw_arguments, context)[1], name, raw_arguments)

    def wait(self, future: Future[Dispatch], name: str, raw_arguments: str | None) -> Dispatch:
        try:
            return future.result(timeout=self.timeout)
        except FutureTimeout:
            # The call goes on in its thread: say what is true, as the tool words it.
            tool = self.tools.get(name)
            sentence = (tool and tool.timeout_sentence) or (
                f"{name} did not answer within {self.timeout:g} seconds."
            )
            parsed, _ = _read_arguments(raw_arguments)
            return _error(name, parsed, sentence, "timeout", ms=self.timeout * 1000)

    @staticmethod
    def _run(tool: Tool, args: Any, context: ToolContext) -> Dispatch:
        started = time.perf_counter()
        label = tool.label(args)
        try:
            result = tool.call(args, context)
        except Exception:  # a tool bug must never end the turn: log it, tell the model
            log.exception("tool %s failed", tool.name)
            result = ToolResult.failure(f"{tool.name} failed unexpectedly.", error="internal_error")
        ms = (time.perf_counter() - started) * 1000
        return Dispatch(tool.name, args.model_dump(mode="json"), result, label, ms)


def _read_arguments(raw: str | None) -> tuple[dict[str, Any] | str, str | None]:
    """The arguments as a JSON object, or the start of their text and what is wrong with them
    (the end of a sentence). Bounded: a model may send megabytes, or brackets nested 100,000
    deep (which json.loads answers with a RecursionError)."""
    if not isinstance(raw, str) or not raw:
        return {}, None
    if len(raw) > MAX_ARGUMENT_CHARS:
        return _preview(raw), f"are longer than {MAX_ARGUMENT_CHARS:,} characters"
    try:
        loaded = json.loads(raw)
    except RecursionError:
        return _preview(raw), "are nested too deeply"
    except ValueError:
        return _preview(raw), "were not a JSON object"
    if not isinstance(loaded, dict):
        return _preview(raw), "were not a JSON object"
    if _depth(loaded) > MAX_ARGUMENT_DEPTH:
        return _preview(raw), "are nested too deeply"
    return loaded, None


def _preview(raw: str) -> str:
    return raw if len(raw) <= PREVIEW_CHARS else raw[:PREVIEW_CHARS] + " …"


def _depth(value: Any) -> int:
    """How deeply `value` nests lists and objects (iteratively: no recursion to exhaust)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, depth = todo.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            todo.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            todo.extend((child, depth + 1) for child in item)
    return deepest


def _error(
    name: str, arguments: dict[str, Any] | str, sentence: str, code: str, ms: float = 0.0
) -> Dispatch:
    return Dispatch(
        name, arguments, ToolResult.failure(sentence, error=code), f"Calling {name}", ms
    )


def build_registry(
    backends: Backends, timeout: float = 10.0, agent: str | None = None
) -> ToolRegistry:
    return ToolRegistry(
        [
            player_stats.make_tool(backends.stats),
            help_search.make_tool(backends.search),
            *grievances.make_tools(backends.grievances),
        ],
        timeout=timeout,
    )
