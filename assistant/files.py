"""Writing a file into a folder the user named, without following a link planted there: the
folder is opened with O_NOFOLLOW, the data goes to a new temporary file created exclusively in
it, and a rename puts it in place (replacing a link at that name, never writing through it)."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


class WriteError(Exception):
    """A file could not be written; the message says why, as a clause ("DIR is a symbolic
    link, ..."), for the caller's sentence."""


def write_inside(folder: Path, name: str, data: bytes) -> Path:
    """`data` as `folder/name` (created when missing); WriteError when it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        raise WriteError(_sentence(folder, exc)) from None
    temporary = f".{name}.{secrets.token_hex(6)}.tmp"
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        with os.fdopen(os.open(temporary, flags, 0o644, dir_fd=dir_fd), "wb") as handle:
            handle.write(data)
        os.replace(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError as exc:
        with contextlib.suppress(OSError):  # never created, or already renamed
            os.unlink(temporary, dir_fd=dir_fd)
        raise WriteError(_sentence(folder, exc)) from None
    finally:
        os.close(dir_fd)
    return folder / name


def _sentence(folder: Path, exc: OSError) -> str:
    if folder.is_symlink():  # O_NOFOLLOW said ELOOP or ENOTDIR; mkdir, EEXIST if dangling
        return f"{folder} is a symbolic link, which VoiceDesk does not follow"
    reason = (exc.strerror or "unknown error").rstrip(".")
    return f"{folder} cannot be written ({reason[0].lower()}{reason[1:]})"
