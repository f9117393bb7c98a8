"""Time to the first answer sound, streamed vs whole, against the paced Chat Completions double.

The double sends its first chunk after 0.4 s and generates speech at 3x real time (a 6 s
answer, like bench/responder.py's). Streamed: from `ask()` to the first audio_chunk event.
Whole: from `ask()` to the Reply (nothing can play before it). Runs alternate, in one process.
Also the app's own added time: from the double generating its first audio chunk to the engine
handing it to the page (the audio_chunk event).

    python -m bench.stream_first_audio [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from assistant.history import Conversation
from assistant.modes.audio_chat import AudioChatMode, StreamSupport
from assistant.service import build_engine
from tests.doubles.chat_double import ChatDouble, Pace
from tests.doubles.speech import tone_wav
from tests.support import SETTING_NAMES, make_settings

ANSWER_S = 6.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)
    for name in SETTING_NAMES:  # the developer's own settings play no part
        os.environ.pop(name, None)
    os.environ["VOICEDESK_NO_CONFIG_FILES"] = "1"
    answer = tone_wav(ANSWER_S, rate=24_000)
    with ChatDouble(pace=Pace(first_chunk_s=0.4, realtime=3.0)) as double, \
            tempfile.TemporaryDirectory() as tmp:  # fmt: skip
        settings = make_settings(Path(tmp), openai_base_url=double.base_url,
                                 openai_api_key="sk-bench", voicedesk_max_retries=0)  # fmt: skip
        streamed = build_engine(settings)
        whole = build_engine(settings)
        refused = StreamSupport()
        refused.refused(whole.client)
        whole.mode = AudioChatMode(whole.client, support=refused)
        first_audio, whole_reply, added = [], [], []
        for _ in range(args.runs):
            double.reply_audio("Here is your answer.", answer)
            started, firsts = time.perf_counter(), []

            def sink(event, firsts=firsts, started=started):
                if event.kind == "audio_chunk" and not firsts:
                    firsts.append((time.perf_counter() - started, time.monotonic()))

            reply = streamed.ask(Conversation(), text="How many games?", on_event=sink)
            assert reply.extra["delivery"] == "streamed" and firsts
            first_audio.append(firsts[0][0])
            sent = next(t for t, what in double.chat_requests[-1].generated if what == "audio")
            added.append(firsts[0][1] - sent)
            double.reply_audio("Here is your answer.", answer)
            started = time.perf_counter()
            reply = whole.ask(Conversation(), text="How many games?")
            assert reply.extra["delivery"] == "whole"
            whole_reply.append(time.perf_counter() - started)
        assert double.violations == [], double.violations
    print(json.dumps({
        "runs": args.runs,
        "pace": {"first_chunk_s": 0.4, "realtime": 3.0, "answer_s": ANSWER_S},
        "streamed_first_audio_s_median": round(statistics.median(first_audio), 3),
        "whole_reply_s_median": round(statistics.median(whole_reply), 3),
        "app_added_ms_median": round(statistics.median(added) * 1000, 1),
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
