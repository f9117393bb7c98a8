"""The offline engine runs in a network namespace with no network at all (`unshare -rn`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.offline_models
ROOT = Path(__file__).resolve().parents[2]

TURN = """
import base64, json
from localspeech.client import make_offline_client, shared_engine
from localspeech.router import route
from tests.localspeech.cases import tool_schemas
from tests.localspeech.helpers import ask, messages
client = make_offline_client()
engine = shared_engine()
engine.warm_up(background=False)
wav = engine.tts.wav("Do I have any open complaints?")
reply = ask(client, messages(wav, customer="maria"), tool_schemas())
heard = engine.stt.transcribe(wav).text
print(json.dumps({
    "status": engine.status(),
    "heard": heard,
    "tools": [c.function.name for c in reply.choices[0].message.tool_calls or []],
    "routed": [c.name for c in route(heard, tool_schemas(), "maria").calls],
    "spoken": bool(reply.choices[0].message.audio),
}))
"""

def _namespace_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0


def test_a_turn_works_with_no_network_at_all(real_engine):
    if not _namespace_works():
        reason = "unshare -rn (a user network namespace) is not available here"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        ["unshare", "-rn", sys.executable, "-c", TURN],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    import json

    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"]["stt"] == result["status"]["tts"] == "ready"
    assert result["heard"].strip(), "the question was not heard"
    # The words Whisper writes differ by CPU; that the turn was answered, as heard, does not.
    assert result["tools"] == result["routed"], result
    assert result["tools"] or result["spoken"], result
