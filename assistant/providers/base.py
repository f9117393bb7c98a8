"""What a model provider is: one object per provider says everything that differs between them.

The rest of the project asks the provider (`providers.get(name)`) instead of comparing names.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import openai

from assistant.config import ConfigError, Settings, voices_for

if TYPE_CHECKING:
    from assistant.doctor import Row


@dataclass(frozen=True)
class ModelClient:
    provider: str  # a provider's name: "openai", "azure" or "offline"
    model: str  # sent as `model` (the deployment name on Azure)
    transcribe_model: str | None  # None: the user's words are not transcribed for the history
    api: openai.OpenAI
    price_model: str  # the model whose prices apply (an Azure deployment serves VOICEDESK_MODEL)


class Provider:
    """A model provider. Subclasses set the words and override what differs."""

    name: ClassVar[str]
    label: ClassVar[str]  # the sidebar's choice: "Azure OpenAI"
    trace_label: ClassVar[str]  # "answered by the offline engine"
    speaker: ClassVar[str]  # the subject of its error sentences: "Azure OpenAI says ..."
    key_setting: ClassVar[str] = "OPENAI_API_KEY"  # named when the key is refused
    model_noun: ClassVar[str] = "model"  # what a 404 says is missing
    model_setting: ClassVar[str] = "VOICEDESK_MODEL"  # where that name is set
    cloud: ClassVar[bool] = True
    chooses_voice: ClassVar[bool] = True  # False: the voice is the provider's own

    # -- settings ---------------------------------------------------------------------------

    def configured(self, settings: Settings) -> bool:
        """Whether this installation can use it (the sidebar offers only those)."""
        raise NotImplementedError

    def model_name(self, settings: Settings) -> str:
        """The name sent as `model`."""
        return settings.voicedesk_model

    def transcriber(self, settings: Settings) -> str | None:
        """The model (or deployment) that transcribes the user's words for the history."""
        return settings.voicedesk_transcribe_model or None

    def models(self, settings: Settings) -> list[str]:
        """The models the sidebar offers; one means no choice."""
        return [settings.voicedesk_model]

    def model_caption(self, settings: Settings) -> str | None:
        """What the sidebar names instead of a model choice (None: a choice is offered)."""
        return settings.voicedesk_model

    def voices(self, model: str) -> tuple[str, ...]:
        return voices_for(model)

    # -- client, config, doctor ---------------------------------------------------------------

    def build(self, settings: Settings) -> ModelClient:
        """The client; ConfigError (one sentence) when the provider is not set up."""
        raise NotImplementedError

    def config_rows(self, settings: Settings) -> list[tuple[str, str]]:
        """What `python -m assistant config` shows about it, no secret but 'set'/'not set'."""
        return []

    def where(self, settings: Settings) -> str:
        """Where its model runs, for the doctor."""
        raise NotImplementedError

    def doctor_row(self, settings: Settings) -> Row:
        """Is it set up? No model call is made: that would cost money and time."""
        from assistant.doctor import Row, elapsed_ms

        started = time.perf_counter()
        where = self.where(settings)
        try:
            self.build(settings)
        except ConfigError as exc:
            return Row("Model", self.name, "cloud", where, False, elapsed_ms(started), str(exc))
        return Row("Model", f"{self.name} {self.model_name(settings)}", "cloud", where, True,
                   elapsed_ms(started),
                   note="Configured; the key is first used by the next question.")  # fmt: skip
