"""The offline engine's speech models in the sidebar: loading (refreshed every few seconds
until they are ready), ready, or failed with the reason."""

from __future__ import annotations

from typing import Any

import streamlit as st

from page.markup import md_escape

REFRESH_S = 2.0
VOICES = {"piper": "Piper", "espeak-ng": "espeak-ng"}


def models_state(status: dict[str, Any]) -> tuple[str, str]:
    """('loading' | 'ready' | 'failed', the sentence to show) from OfflineEngine.status()."""
    errors = status.get("errors") or {}
    if errors:
        return "failed", " ".join(str(error) for error in errors.values())
    if status.get("warm") or (status.get("stt") == "ready" and status.get("tts") == "ready"):
        voice = VOICES.get(status.get("tts_engine"), status.get("tts_engine") or "a local voice")
        return "ready", f"Speech models ready (Whisper hears, {voice} speaks)."
    return "loading", "Loading the offline speech models; the first answer waits for them."


def render_offline_models(engine: Any) -> None:
    """`engine` is the OfflineEngine (anything with status()); None when there is none."""
    if engine is None:
        return
    state, _ = models_state(engine.status())
    # Re-run only this little fragment while the models load; stop once they are ready.
    st.fragment(_show, run_every=REFRESH_S if state == "loading" else None)(engine, state)


def _show(engine: Any, first_state: str) -> None:
    state, sentence = models_state(engine.status())
    if state == "failed":
        st.warning(md_escape(sentence), icon=":material/error:")
    elif state == "ready":
        st.caption(f":material/check: {md_escape(sentence)}")
    else:
        st.caption(f":material/hourglass_top: :shimmer[{md_escape(sentence)}]")
    if state != first_state and first_state == "loading":
        st.rerun()  # the whole page: stops this fragment's timer
