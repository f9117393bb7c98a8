"""VoiceDesk's offline mode: local speech models and a tool router behind Chat Completions."""
