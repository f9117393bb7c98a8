"""Fixtures for the cloud backends: vendor doubles on 127.0.0.1 and isolated settings."""

from __future__ import annotations

import os

import pytest

from tests.doubles.jira_double import JiraDouble
from tests.doubles.search_double import SearchDouble
from tests.support import isolate_env


def need(condition: bool, reason: str) -> None:
    """Skip locally when a system package is missing; under CI=true that is a failure."""
    if condition:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI=true: nothing may be skipped)")
    pytest.skip(reason)


@pytest.fixture
def clean_env(monkeypatch):
    isolate_env(monkeypatch)


@pytest.fixture(scope="session")
def _jira_server():
    double = JiraDouble().start()  # stopping a server takes 0.5 s: one for the whole session
    yield double
    double.stop()


@pytest.fixture
def jira_double(_jira_server):
    _jira_server.reset()
    yield _jira_server
    _jira_server.reset()


@pytest.fixture(scope="session")
def _search_server():
    double = SearchDouble().start()
    yield double
    double.stop()


@pytest.fixture
def search_double(_search_server):
    _search_server.reset()
    yield _search_server
    _search_server.reset()
