"""The cascade's moving parts for one turn: the model's stream read on its own thread, and the
voice saying each sentence as soon as it is written, both feeding one inbox that the asking
thread empties (the only thread that may emit events).

A stream's and the voice's items are tagged with their source, so a closed stream's late items
are told apart; the asking thread polls every POLL_S for the person talking over the answer.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from assistant import chatcmpl
from assistant.errors import TurnError, call_failure
from assistant.models import Event
from assistant.modes.base import Turn
from assistant.speech.base import Synthesizer
from assistant.speech.sentences import SentenceCutter, for_speech

log = logging.getLogger(__name__)
EVENT_STREAM = "text/event-stream"
POLL_S = 0.05  # how often a wait looks whether the person talked over the answer


class Failures:
    """Whatever a text model call raises, as one TurnError in the text part's words."""

    def __init__(self, text: Any):
        self.text = text

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or isinstance(exc, TurnError):
            return False
        base_url = getattr(self.text.api, "base_url", "")
        failure = call_failure(exc, self.text.words, self.text.model, base_url)
        if failure is not None:
            raise failure from None
        return False


class ModelStream:
    """One streamed model call, read on its own thread into the voice's inbox, so the asking
    thread hands on the voice's audio even while the model is silent. Items are tagged with
    the stream, so a closed stream's late items are told apart."""

    def __init__(self, text: Any, body: dict[str, Any], inbox: queue.SimpleQueue):
        self.text, self.body, self.inbox = text, body, inbox
        self._stop = threading.Event()
        self._response: Any = None
        threading.Thread(target=self._read, daemon=True, name="cascade-model").start()

    def close(self) -> None:
        """Stop reading; the connection is closed, so the model stops generating."""
        self._stop.set()
        response = self._response
        if response is not None:
            try:
                response.close()
            except Exception:  # closing from another thread may race the reader: no matter
                log.debug("closing the model stream", exc_info=True)

    def _read(self) -> None:
        create = self.text.api.chat.completions.with_streaming_response.create
        try:
            with Failures(self.text), create(**self.body) as response:
                self._response = response
                if not response.headers.get("content-type", "").startswith(EVENT_STREAM):
                    self._put("whole", response.json())
                    return
                for chunk in chatcmpl.sse_data(response.iter_lines()):
                    if self._stop.is_set():
                        return
                    self._put("chunk", chunk)
            self._put("end", None)
        except TurnError as exc:
            self._put("failed", exc)
        except Exception:  # a bug: one sentence for the person, the log has the rest
            log.exception("reading the text model failed")
            self._put("failed", TurnError(
                "Something went wrong while answering; try again.", code="internal"))

    def _put(self, kind: str, value: Any) -> None:
        if not self._stop.is_set():
            self.inbox.put((self, kind, value))


class Voice:
    """Says the answer sentence by sentence while it is written.

    The asking thread `write`s the model's text; each completed sentence goes to a voice thread
    that synthesizes sentences in order. Its audio (and its failure, a TurnError) comes back
    through the inbox, which the model's stream also feeds: `next` waits for the stream's next
    item while handing on audio, `pump` hands on what is ready, `finish` waits for the rest;
    all on the asking thread, the only thread that may emit events."""

    def __init__(self, synthesizer: Synthesizer, turn: Turn):
        self.synthesizer = synthesizer
        self.turn = turn
        self.cutter = SentenceCutter()
        self.words: list[str] = []
        self.pcm = bytearray()
        self.chars = 0
        self.first_sound_ms: float | None = None
        self._started = time.perf_counter()
        self._sentences: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self.inbox: queue.SimpleQueue[tuple[Any, str, Any]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._done = False

    # -- the asking thread -----------------------------------------------------------------

    def write(self, piece: str) -> None:
        self.words.append(piece)
        self.turn.emit(Event("text_delta", "answer", "Answer text", data=piece))
        for sentence in self.cutter.feed(piece):
            self._say(sentence)

    def end_of_text(self) -> None:
        for sentence in self.cutter.flush():
            self._say(sentence)

    def next(self, source: Any) -> tuple[str, Any] | None:
        """The next item from `source` (a model stream), handing on audio meanwhile; None as
        soon as the person talks over the answer."""
        while True:
            item = self._wait()
            if item is None:
                return None
            origin, kind, value = item
            if origin is self:
                self._take(kind, value)
            elif origin is source:
                return kind, value  # anything else is a closed stream's: dropped

    def pump(self) -> None:
        """Hand on the audio that is ready; raise the voice's failure, if it failed."""
        while True:
            try:
                origin, kind, value = self.inbox.get_nowait()
            except queue.Empty:
                return
            if origin is self:
                self._take(kind, value)

    def finish(self) -> None:
        """Wait for the rest of the answer's audio, handing it on as it comes; stop at once
        when the person talks over it."""
        if self._thread is None:
            return
        self._sentences.put(None)
        while not self._done:
            item = self._wait()
            if item is None:
                self._stop.set()
                return
            origin, kind, value = item
            if origin is self:
                self._take(kind, value)

    def _wait(self) -> tuple[Any, str, Any] | None:
        while not self.turn.cancelled():
            try:
                return self.inbox.get(timeout=POLL_S)
            except queue.Empty:
                continue
        return None

    def close(self) -> None:
        self._stop.set()
        self._sentences.put(None)

    def _say(self, sentence: str) -> None:
        text = for_speech(sentence)
        if not any(char.isalnum() for char in text):
            return
        self.chars += len(text)
        if self._thread is None:
            self._thread = threading.Thread(target=self._speak, daemon=True, name="cascade-voice")
            self._thread.start()
        self._sentences.put(text)

    def _take(self, kind: str, value: Any) -> None:
        if kind == "audio":
            if self.first_sound_ms is None:
                self.first_sound_ms = round((time.perf_counter() - self._started) * 1000, 1)
            self.pcm += value
            self.turn.emit(Event("audio_chunk", "answer", "Answer audio", data=value))
        elif kind == "error":
            self._done = True
            raise value
        else:
            self._done = True

    # -- the voice thread ------------------------------------------------------------------

    def _stopped(self) -> bool:
        # The person's barge-in is seen here too, not only when the asking thread next looks.
        return self._stop.is_set() or self.turn.cancelled()

    def _speak(self) -> None:
        try:
            while not self._stopped():
                sentence = self._sentences.get()
                if sentence is None:
                    break
                pieces = self.synthesizer.stream(sentence)
                try:
                    for pcm in pieces:
                        if self._stopped():
                            break
                        if pcm:
                            self.inbox.put((self, "audio", pcm))
                finally:
                    close = getattr(pieces, "close", None)
                    if close is not None:
                        close()  # a stop closes the speech request: the voice stops too
        except TurnError as exc:
            self.inbox.put((self, "error", exc))
        except Exception:  # a part's own bug: one sentence for the person, the log has it
            log.exception("the voice failed")
            self.inbox.put((self, "error", TurnError(
                "The voice failed to speak the answer; please try again.", code="tts_failed")))
        finally:
            self.inbox.put((self, "done", None))
