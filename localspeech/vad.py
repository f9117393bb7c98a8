"""Voice activity: where a turn starts and ends in a stream of PCM16 at 24 kHz.

The Silero VAD model that faster-whisper ships (`assets/silero_vad_v6.onnx`) runs on 16 kHz
audio in windows of 512 samples (32 ms), each with the last 64 samples of the window before
and the model's recurrent state carried over: run one window at a time it gives exactly what
faster-whisper's batch call gives (checked here), at ~0.2 ms a window on one thread.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import numpy as np

from localspeech.loading import LazyModel, ModelUnavailable

IN_RATE = 24_000  # the Realtime protocol's audio/pcm
VAD_RATE = 16_000
WINDOW = 512  # samples at 16 kHz: 32 ms
CONTEXT = 64
WINDOW_MS = WINDOW * 1000 // VAD_RATE
MIN_SPEECH_WINDOWS = 2  # a click or a cough of one window is not a turn
NEGATIVE_MARGIN = 0.15  # speech ends below threshold - margin (as Silero's own segmenter)
PAUSE_MS = 200  # a "paused" event this long into a silence: hearing may start before the end


def _load_silero():
    try:
        import onnxruntime
        from faster_whisper.vad import get_assets_path
    except ImportError as exc:
        raise ModelUnavailable(
            "Offline voice detection needs the faster-whisper and onnxruntime packages."
        ) from exc
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # a window is tiny: one thread, no spinning pool
    options.inter_op_num_threads = 1
    options.log_severity_level = 4
    return onnxruntime.InferenceSession(
        os.path.join(get_assets_path(), "silero_vad_v6.onnx"),
        sess_options=options,
        providers=["CPUExecutionProvider"],
    )


SILERO = LazyModel("voice-detection", _load_silero)  # one per process, shared by sessions


@dataclass(frozen=True)
class TurnSettings:
    """OpenAI's server_vad settings and their defaults."""

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500


@dataclass(frozen=True)
class VoiceEvent:
    kind: str  # "started" | "paused" (speech may go on) | "stopped"
    ms: int  # on the input stream's clock: ms of audio appended since the session began


class TurnDetector:
    """Feed PCM16 24 kHz bytes; get "started" (at the first speech window) and "stopped" (at
    the end of the last speech window, once `silence_duration_ms` of silence followed it), and
    before it "paused" (at the same time, after PAUSE_MS of that silence)."""

    def __init__(self, settings: TurnSettings, model: LazyModel = SILERO):
        import soxr

        self.settings = settings
        self._session = model.get()  # ModelUnavailable here, before the first audio
        self._resampler = soxr.ResampleStream(IN_RATE, VAD_RATE, 1, dtype="float32")
        self._pending = np.zeros(0, np.float32)
        self._context = np.zeros((1, CONTEXT), np.float32)
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._lock = threading.Lock()
        self.windows = 0  # windows judged so far: the clock
        self.speaking = False
        self._run = 0  # consecutive speech windows (before a start)
        self._quiet = 0  # consecutive silent windows (while speaking)

    def feed(self, pcm16: bytes) -> list[VoiceEvent]:
        samples = np.frombuffer(pcm16, "<i2").astype(np.float32) / 32768.0
        with self._lock:
            audio = self._resampler.resample_chunk(samples)
            self._pending = np.concatenate([self._pending, audio])
            events: list[VoiceEvent] = []
            while len(self._pending) >= WINDOW:
                window, self._pending = self._pending[:WINDOW], self._pending[WINDOW:]
                event = self._judge(self._probability(window))
                if event is not None:
                    events.append(event)
            return events

    def _probability(self, window: np.ndarray) -> float:
        block = np.concatenate([self._context, window[None, :]], axis=1)
        out, self._h, self._c = self._session.run(
            None, {"input": block, "h": self._h, "c": self._c}
        )
        self._context = window[None, -CONTEXT:]
        return float(np.asarray(out).reshape(-1)[0])

    def _judge(self, probability: float) -> VoiceEvent | None:
        self.windows += 1
        end_ms = self.windows * WINDOW_MS
        if not self.speaking:
            self._run = self._run + 1 if probability >= self.settings.threshold else 0
            if self._run >= MIN_SPEECH_WINDOWS:
                self.speaking, self._quiet = True, 0
                return VoiceEvent("started", end_ms - self._run * WINDOW_MS)
            return None
        if probability >= self.settings.threshold - NEGATIVE_MARGIN:
            self._quiet = 0
            return None
        self._quiet += 1
        quiet_ms, speech_end = self._quiet * WINDOW_MS, end_ms - self._quiet * WINDOW_MS
        if quiet_ms >= self.settings.silence_duration_ms:
            self.speaking, self._run = False, 0
            return VoiceEvent("stopped", speech_end)
        if quiet_ms - WINDOW_MS < PAUSE_MS <= quiet_ms:
            return VoiceEvent("paused", speech_end)
        return None

    def reset(self) -> None:
        """Forget a turn in progress (the buffer was cleared); the clock runs on."""
        with self._lock:
            self.speaking, self._run, self._quiet = False, 0, 0
