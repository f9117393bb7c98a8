"""From an odd recording handed to TurnEngine.ask to its refusal sentence.

Every recording of tests/audio_factory.ODD_RECORDINGS that must be refused (empty, not audio,
an unsupported encoding, silent, ten minutes long...) goes to the product's engine; the time is
until ask() raises its TurnError. The refusal must come before any model call: the benchmark
checks that no request left the process, and that each refusal has the expected code.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from assistant.errors import TurnError
from assistant.history import Conversation
from bench.measure import median, percentile, rounded
from bench.metered import MeteredTransport, engine_against
from bench.responder import ResponderProcess
from tests.audio_factory import ODD_RECORDINGS


def run(repeats: int = 20, warmup: int = 2) -> dict[str, Any]:
    odd = [o for o in ODD_RECORDINGS if o.expect_code is not None]
    samples: dict[str, list[float]] = {o.name: [] for o in odd}
    with ResponderProcess() as responder, tempfile.TemporaryDirectory() as tmp:
        transport = MeteredTransport()
        engine = engine_against(responder.base_url, Path(tmp), transport)
        for number in range(warmup + repeats):
            for recording in odd:
                started = time.perf_counter()
                try:
                    engine.ask(Conversation(), audio=recording.data)
                except TurnError as exc:
                    ms = (time.perf_counter() - started) * 1000
                    if exc.code != f"audio_{recording.expect_code}" or not str(exc):
                        raise RuntimeError(
                            f"{recording.name} was refused as {exc.code}, "
                            f"not audio_{recording.expect_code}"
                        ) from None
                else:
                    raise RuntimeError(f"{recording.name} was answered, not refused")
                if number >= warmup:
                    samples[recording.name].append(ms)
        if transport.take():
            raise RuntimeError("a refused recording reached the model")
    every = [ms for values in samples.values() for ms in values]
    slowest = max(samples, key=lambda name: median(samples[name]))
    return {
        "refusal_ms_p95": rounded(percentile(every, 95)),
        "details": {
            "recordings": len(odd),
            "repeats": repeats,
            "refusal_ms_median": rounded(median(every)),
            "slowest": slowest,
            "slowest_ms_median": rounded(median(samples[slowest])),
        },
    }
