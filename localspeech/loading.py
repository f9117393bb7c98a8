"""Load a model once per process, lazily or in the background, and say how far it got."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Generic, Literal, TypeVar

T = TypeVar("T")
State = Literal["idle", "loading", "ready", "failed"]


class ModelUnavailable(RuntimeError):
    """A model cannot be loaded. The message is one plain sentence saying what to install."""


class LazyModel(Generic[T]):
    """`get()` loads on first use (other callers wait); `start()` loads in a background thread."""

    def __init__(self, name: str, loader: Callable[[], T]):
        self.name = name
        self._loader = loader
        self._lock = threading.Lock()
        self._value: T | None = None
        self.state: State = "idle"
        self.error: str | None = None
        self.load_s: float | None = None

    def get(self) -> T:
        if self._value is not None:
            return self._value
        with self._lock:
            if self._value is None:
                self.state = "loading"
                started = time.perf_counter()
                try:
                    self._value = self._loader()
                except ModelUnavailable as exc:
                    self.state, self.error = "failed", str(exc)
                    raise
                except Exception as exc:  # a broken model file or library: say so in one line
                    self.state, self.error = (
                        "failed",
                        f"The {self.name} model could not load: {exc}.",
                    )
                    raise ModelUnavailable(self.error) from exc
                self.load_s = time.perf_counter() - started
                self.state = "ready"
        return self._value

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._quietly, name=f"load-{self.name}", daemon=True)
        if self.state == "idle":
            self.state = "loading"
        thread.start()
        return thread

    def _quietly(self) -> None:
        with contextlib.suppress(ModelUnavailable):  # recorded in state/error for status()
            self.get()
