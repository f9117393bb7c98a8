"""Speech parts of the cascade mode: speech-to-text and text-to-speech, one module per vendor."""
