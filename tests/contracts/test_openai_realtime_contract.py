"""The Realtime validator accepts the events OpenAI documents and names what is wrong."""

from tests.contracts.openai_realtime import (
    CLIENT,
    SERVER,
    client_event_errors,
    event_types,
    server_event_errors,
)


def test_every_event_branch_of_the_spec_has_a_type():
    assert len(event_types(CLIENT)) >= 10
    assert len(event_types(SERVER)) >= 40
    assert "session.update" in event_types(CLIENT)
    assert "response.output_audio.delta" in event_types(SERVER)


def test_a_documented_client_event_passes():
    event = {"type": "input_audio_buffer.append", "audio": "AAAA"}
    assert client_event_errors(event) == []
    truncate = {
        "type": "conversation.item.truncate",
        "item_id": "item_1",
        "content_index": 0,
        "audio_end_ms": 1500,
    }
    assert client_event_errors(truncate) == []


def test_a_client_event_with_an_unknown_key_is_refused():
    event = {"type": "input_audio_buffer.append", "audio": "AAAA", "pcm": "AAAA"}
    assert any("pcm" in error for error in client_event_errors(event))


def test_a_client_event_missing_a_required_field_is_refused():
    errors = client_event_errors({"type": "conversation.item.truncate", "item_id": "item_1"})
    assert any("audio_end_ms" in error for error in errors)


def test_an_unknown_event_type_is_refused_on_both_sides():
    assert client_event_errors({"type": "response.make"})[0].startswith("body.type")
    assert server_event_errors({"type": "audio.delta"})[0].startswith("body.type")


def test_a_server_event_is_checked_against_its_own_schema():
    started = {
        "event_id": "event_1",
        "type": "input_audio_buffer.speech_started",
        "audio_start_ms": 120,
        "item_id": "item_1",
    }
    assert server_event_errors(started) == []
    assert server_event_errors({**started, "extra": 1}) == []  # open: clients tolerate more
    assert any(
        "audio_start_ms" in e for e in server_event_errors({**started, "audio_start_ms": "x"})
    )
