"""VoiceDesk: a spoken support assistant. The engine; no Streamlit here."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
