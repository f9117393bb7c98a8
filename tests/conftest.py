"""Fixtures shared by the whole test suite. Each block says whose it is; keep blocks small."""

from __future__ import annotations

import pytest

# --- Chat Completions double (tests/doubles/chat_double.py) -------------------------------------


@pytest.fixture
def chat_double():
    """A started ChatDouble (scripted policy); the test fails if a request broke the contract.

    A test that sends a bad request on purpose asserts on `violations`, then clears them.
    """
    from tests.doubles.chat_double import ChatDouble

    with ChatDouble() as double:
        yield double
    assert double.violations == [], "the Chat Completions double saw:\n" + "\n".join(
        double.violations
    )


# --- end of the Chat Completions double block ----------------------------------------------------
