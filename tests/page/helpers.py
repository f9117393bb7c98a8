"""Small readers over an AppTest's element tree, and realistic questions to ask it."""

from __future__ import annotations

import base64
import re

from page.markup import WORD_JOINER
from tests import audio_factory
from tests.doubles.speech import have_espeak, speech_wav


def question_wav(text: str = "How many games did I play this week?") -> bytes:
    """A spoken question: espeak-ng speech where installed, else speech-like sound."""
    if have_espeak():
        return speech_wav(text)
    return audio_factory.wav(audio_factory.pcm16(audio_factory.speech_like(2.0)))


def silent_wav(seconds: float = 1.5) -> bytes:
    return audio_factory.wav(b"\x00\x00" * int(16000 * seconds))


def ask_by_voice(at, wav: bytes, name: str = "question.wav"):
    return at.audio_input(key="mic").set_value((name, wav, "audio/wav")).run()


def messages(at, role: str):
    return [m for m in at.main.chat_message if m.name == role]


def plain(markdown: str) -> str:
    """Markdown source as the person reads it: without the backslashes that escape text."""
    unescaped = re.sub(r"\\([\\`*_\[\]<>~|$:#+\-.&@=])", r"\1", markdown)
    return unescaped.replace(WORD_JOINER, "")


def texts(block) -> list[str]:
    return [plain(m.value) for m in block.markdown]


def audios(block) -> list:
    """The st.audio elements under `block` (AppTest has no type for them: read their proto)."""
    return [el for el in block.get("audio")]


def input_audio_of(request) -> bytes | None:
    """The recording a chat request carried in its last user message, decoded."""
    for message in reversed(request.json["messages"]):
        if message["role"] == "user" and isinstance(message["content"], list):
            for part in message["content"]:
                if part.get("type") == "input_audio":
                    return base64.b64decode(part["input_audio"]["data"])
    return None


def button(at, label: str):
    found = [b for b in at.button if b.label == label]
    assert found, f"no button {label!r}; buttons: {[b.label for b in at.button]}"
    return found[0]
