import json
import threading
import time

from pydantic import BaseModel

from tools.base import Tool, ToolContext, ToolResult, ToolUnavailable
from tools.registry import ToolRegistry


class EchoArgs(BaseModel):
    word: str


def _tool(name="echo", run=None):
    return Tool(
        name=name,
        description="Echo a word.",
        args_model=EchoArgs,
        run=run or (lambda a, context: ToolResult.success(f"echoed {a.word}", word=a.word)),
        label=lambda a: f"Echoing {a.word}",
    )


def test_schema_is_the_tools_api_shape():
    schema = ToolRegistry([_tool()]).schemas()[0]
    assert schema["type"] == "function"
    assert schema["function"]["name"] == "echo"
    assert schema["function"]["parameters"]["properties"]["word"] == {"type": "string"}
    assert schema["function"]["parameters"]["required"] == ["word"]


def test_valid_call_runs_and_is_timed():
    dispatch = ToolRegistry([_tool()]).run("echo", '{"word": "hi"}')
    assert dispatch.result.ok and dispatch.result.data == {"word": "hi"}
    assert dispatch.arguments == {"word": "hi"}
    assert dispatch.label == "Echoing hi"
    assert dispatch.ms >= 0
    assert json.loads(dispatch.result.to_json()) == {
        "ok": True,
        "summary": "echoed hi",
        "data": {"word": "hi"},
    }


def test_unknown_tool_is_an_error_result():
    dispatch = ToolRegistry([_tool()]).run("delete_everything", "{}")
    assert not dispatch.result.ok
    assert dispatch.result.error == "unknown_tool"
    assert "echo" in dispatch.result.summary


def test_malformed_json_is_an_error_result_keeping_the_raw_text():
    dispatch = ToolRegistry([_tool()]).run("echo", '{"word": ')
    assert dispatch.result.error == "malformed_arguments"
    assert dispatch.arguments == '{"word": '
    assert ToolRegistry([_tool()]).run("echo", '["a list"]').result.error == "malformed_arguments"


def test_arguments_failing_validation_are_an_error_result():
    dispatch = ToolRegistry([_tool()]).run("echo", '{"word": 3}')
    assert dispatch.result.error == "invalid_arguments"
    assert "word" in dispatch.result.summary


def test_a_crashing_tool_becomes_an_error_result():
    def boom(args, context):
        raise RuntimeError("database exploded")

    dispatch = ToolRegistry([_tool(run=boom)]).run("echo", '{"word": "x"}')
    assert dispatch.result.error == "internal_error"
    assert "exploded" not in dispatch.result.summary


def test_a_slow_tool_times_out_without_blocking_the_caller():
    release = threading.Event()

    def slow(args, context):
        release.wait(5)
        return ToolResult.success("late")

    registry = ToolRegistry([_tool(run=slow)], timeout=0.2)
    started = time.perf_counter()
    dispatch = registry.run("echo", '{"word": "x"}')
    elapsed = time.perf_counter() - started
    release.set()
    assert dispatch.result.error == "timeout"
    assert elapsed < 2


def test_calls_run_concurrently():
    barrier = threading.Barrier(3, timeout=2)

    def meet(args, context):
        barrier.wait()  # only returns when three calls are running at once
        return ToolResult.success("met")

    registry = ToolRegistry([_tool(run=meet)], timeout=3)
    futures = [registry.submit("echo", '{"word": "x"}')[1] for _ in range(3)]
    results = [registry.wait(f, "echo", "{}") for f in futures]
    assert all(r.result.ok for r in results)


def test_the_calling_sessions_agent_reaches_the_tool_as_its_context():
    seen = []
    registry = ToolRegistry(
        [_tool(run=lambda a, context: seen.append(context.agent) or ToolResult.success("ok"))]
    )
    registry.run("echo", '{"word": "x"}', ToolContext(agent="Ana from support"))
    registry.run("echo", '{"word": "x"}')
    assert seen == ["Ana from support", None]


def test_a_backend_that_cannot_serve_becomes_one_failure_result():
    def down(args, context):
        raise ToolUnavailable("The help centre cannot be reached; try again later.")

    result = ToolRegistry([_tool(run=down)]).run("echo", '{"word": "x"}').result
    assert result.error == "backend_unavailable"
    assert result.summary == "The help centre cannot be reached; try again later."


def test_submit_names_the_step_and_refusals_resolve_at_once():
    registry = ToolRegistry([_tool()])
    label, future = registry.submit("echo", '{"word": "hi"}')
    assert label == "Echoing hi" and registry.wait(future, "echo", "{}").result.ok
    label, future = registry.submit("nope", "{}")
    assert label == "Calling nope" and future.done()
    assert future.result().result.error == "unknown_tool"
