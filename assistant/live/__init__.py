"""The live voice mode: a realtime session that listens, answers and is interrupted, many turns
in one connection (OpenAI Realtime, Azure OpenAI Realtime, Azure AI Voice Live, or the local
engine's /v1/realtime)."""
