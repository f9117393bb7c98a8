"""Stage lines built live from events and afterwards from a Reply."""

from __future__ import annotations

from assistant.models import Event, Reply, Stage, ToolCall, Usage
from page.progress import DONE, FAILED, RUNNING, Line, ProgressLog, seconds, timeline, total_ms


def call(label: str, round_: int, ms: float, ok: bool = True) -> ToolCall:
    return ToolCall("c", "get_player_summary", label, {}, ok, "", {}, ms, round_)


def reply(stages, calls) -> Reply:
    return Reply(None, "hi", b"", None, None, calls, stages, Usage(), "openai", "m")


def test_events_update_their_lines_in_place():
    log = ProgressLog()
    log.apply(Event("stage_start", "understand", "Understanding the question"))
    assert log.current == "Understanding the question"
    log.apply(Event("stage_end", "understand", "Understanding the question", ms=1200.0))
    log.apply(Event("tool_start", "tool", "Looking up maria's games"))
    log.apply(Event("tool_start", "tool", "Searching the help centre"))
    log.apply(Event("tool_end", "tool", "Searching the help centre", ms=40.0, ok=False))
    assert [(line.label, line.state) for line in log.lines] == [
        ("Understanding the question", DONE),
        ("Looking up maria's games", RUNNING),
        ("Searching the help centre", FAILED),
    ]
    assert log.current == "Looking up maria's games"
    text = log.markdown()
    assert "Understanding the question — 1.2 s" in text
    assert "Searching the help centre (failed) — 40 ms" in text
    assert "Looking up maria's games…" in text


def test_two_running_tools_with_the_same_label_end_one_at_a_time():
    log = ProgressLog()
    for _ in range(2):
        log.apply(Event("tool_start", "tool", "Searching the help centre"))
    log.apply(Event("tool_end", "tool", "Searching the help centre", ms=5.0))
    assert [line.state for line in log.lines] == [DONE, RUNNING]


def test_timeline_puts_each_round_of_tools_after_the_model_call_that_asked_for_them():
    done = reply(
        [
            Stage("audio", "Checking the recording", 5),
            Stage("understand", "Understanding the question", 900),
            Stage("compose", "Composing the spoken answer", 700),
            Stage("compose", "Composing the spoken answer", 800),
        ],
        [
            call("Looking up maria's games", 0, 30),
            call("Registering the grievance", 1, 60, ok=False),
        ],
    )
    assert [(line.label, line.kind, line.state) for line in timeline(done)] == [
        ("Checking the recording", "stage", DONE),
        ("Understanding the question", "stage", DONE),
        ("Looking up maria's games", "tool", DONE),
        ("Composing the spoken answer", "stage", DONE),
        ("Registering the grievance", "tool", FAILED),
        ("Composing the spoken answer", "stage", DONE),
    ]
    assert total_ms(done) == 5 + 900 + 700 + 800 + 30 + 60


def test_a_cascade_turn_shows_its_tools_after_the_thinking_that_asked_for_them():
    done = reply(
        [
            Stage("hear", "Hearing the question (whisper-tiny.en)", 400),
            Stage("think", "Thinking (voicedesk-offline)", 20),
            Stage("think", "Composing the answer (voicedesk-offline)", 20),
            Stage("speak", "Speaking the rest (piper)", 300),
        ],
        [call("Looking up maria's games", 0, 30)],
    )
    assert [(line.label, line.kind) for line in timeline(done)] == [
        ("Hearing the question (whisper-tiny.en)", "stage"),
        ("Thinking (voicedesk-offline)", "stage"),
        ("Looking up maria's games", "tool"),
        ("Composing the answer (voicedesk-offline)", "stage"),
        ("Speaking the rest (piper)", "stage"),
    ]


def test_parallel_tools_count_once_in_the_total():
    done = reply(
        [Stage("understand", "U", 100), Stage("compose", "C", 100)],
        [call("a", 0, 50), call("b", 0, 80)],
    )
    assert total_ms(done) == 280


def test_labels_are_not_taken_for_markdown():
    assert "player\\_one" in Line("Looking up player_one's games", "tool").markdown()


def test_seconds_reads_well():
    assert (seconds(12.4), seconds(1234), seconds(None)) == ("12 ms", "1.2 s", "")
