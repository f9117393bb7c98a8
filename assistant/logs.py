"""Logging to a file in the data directory, with every secret scrubbed. Tracebacks go there,
never to the page or the terminal."""

from __future__ import annotations

import logging
import logging.handlers
import sys

from assistant.config import Settings, secret_values

_configured: set[str] = set()


class ScrubSecrets(logging.Filter):
    def __init__(self, secrets: list[str]):
        super().__init__()
        # Longest first: a secret inside another must not leave the rest of the longer one.
        self.secrets = sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        text = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        for secret in self.secrets:
            text = text.replace(secret, "[secret]")
            if record.exc_text:
                record.exc_text = record.exc_text.replace(secret, "[secret]")
        record.msg, record.args = text, None
        return True


class LogFile(logging.handlers.RotatingFileHandler):
    """The log file. When it cannot be written (a full disk, a folder taken away) logging would
    print a page of traceback to stderr for every record; this says so once, in one sentence,
    and keeps trying (the next record may fit)."""

    told = False

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):  # a bad format string: a bug, shown as logging does
            super().handleError(record)
            return
        if not self.told and logging.raiseExceptions and sys.stderr:
            self.told = True
            reason = (error.strerror or "it cannot be written").lower()
            sys.stderr.write(f"VoiceDesk cannot write its log {self.baseFilename} ({reason}).\n")


def setup_logging(settings: Settings) -> str:
    """Log to <data dir>/voicedesk.log once per process and file; returns the log's path."""
    path = settings.voicedesk_data_dir / "voicedesk.log"
    if str(path) in _configured:
        return str(path)
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = LogFile(
            path, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError:
        handler = logging.NullHandler()  # an unwritable data dir must not stop the app
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(ScrubSecrets(secret_values(settings)))
    root.addHandler(handler)
    for noisy in ("httpx", "httpx2", "openai", "urllib3", "azure", "faster_whisper"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _configured.add(str(path))
    return str(path)
