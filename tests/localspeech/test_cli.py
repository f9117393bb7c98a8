"""`python -m localspeech serve` listens on loopback and answers like OpenAI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx2
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[2]


def test_serve_prints_its_address_and_answers_on_it():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VOICEDESK_NO_CONFIG_FILES": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "localspeech", "serve", "--port", "0", "--no-warm-up"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        line = server.stdout.readline()
        assert line.startswith("VoiceDesk offline engine on http://127.0.0.1:"), line
        url = line.split(" on ", 1)[1].split(" ", 1)[0]
        live = server.stdout.readline().rsplit(" ", 1)[1].strip()
        assert live == url.replace("http://", "ws://") + "/realtime"
        with connect(f"{live}?model=voicedesk-offline", open_timeout=30) as ws:
            assert json.loads(ws.recv(timeout=30))["type"] == "session.created"
        with httpx2.Client(timeout=30) as http:
            models = http.get(f"{url}/models").json()
            assert "voicedesk-offline" in [m["id"] for m in models["data"]]
            reply = http.post(
                f"{url}/chat/completions",
                json={
                    "model": "voicedesk-offline",
                    "messages": [{"role": "user", "content": "thanks"}],
                },
            ).json()
            assert reply["choices"][0]["message"]["content"].startswith("You're welcome.")
    finally:
        server.terminate()
        server.wait(10)
    assert "Traceback" not in server.stderr.read()


def test_a_busy_port_is_one_plain_sentence():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "VOICEDESK_NO_CONFIG_FILES": "1"}
        done = subprocess.run(
            [sys.executable, "-m", "localspeech", "serve", "--port", str(port), "--no-warm-up"],
            capture_output=True, text=True, cwd=ROOT, env=env, timeout=60,
        )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().startswith(f"Cannot listen on 127.0.0.1:{port}")
    assert "Traceback" not in done.stderr
