"""Wire the long-lived parts together: settings, backends, tools, model client, turn engine.

This is the one place that reads settings for the tools: each backend gets explicit constructor
arguments, so nothing under tools/ knows the Settings class.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from assistant.client import build_client
from assistant.config import Settings
from assistant.modes.base import VoiceMode
from assistant.turn import TurnEngine
from tools.backends import Backends
from tools.backends.local_search import MANUALS_DIR, LocalHelpSearch
from tools.backends.local_tickets import LocalGrievances
from tools.backends.outbox import OUTBOX_FILE, Outbox
from tools.backends.outbox import flush_outbox as _flush
from tools.backends.sqlite_stats import SqliteStats
from tools.grievances import GrievanceBackend
from tools.help_search import HelpSearchBackend
from tools.player_stats import PlayerStatsBackend
from tools.registry import ToolRegistry, build_registry

if TYPE_CHECKING:  # the cloud backends load only when configured
    from tools.backends.azure_search import AzureHelpSearch
    from tools.backends.jira_tickets import JiraGrievances
    from tools.backends.odbc_stats import OdbcConnector


def build_backends(settings: Settings) -> Backends:
    """Each tool's backend: the cloud one when its settings are present, else the embedded one."""
    return Backends(
        stats=stats_backend(settings),
        search=search_backend(settings),
        grievances=grievance_backend(settings),
    )


def build_tools(settings: Settings) -> tuple[Backends, ToolRegistry]:
    backends = build_backends(settings)
    return backends, build_registry(backends, timeout=settings.voicedesk_tool_timeout)


def build_engine(
    settings: Settings, provider: str | None = None, registry: ToolRegistry | None = None
) -> TurnEngine:
    """One engine per process, provider and mode (`Settings.mode_for`: VOICEDESK_MODE, else the
    cascade offline and the audio model in the cloud); raises ConfigError when the provider, or a
    part of the cascade, is not set up."""
    if registry is None:
        registry = build_tools(settings)[1]
    client = build_client(settings, provider)
    return TurnEngine(settings, client, registry, mode=build_mode(settings, provider))


def build_mode(settings: Settings, provider: str | None = None) -> VoiceMode | None:
    """The voice mode in force for the provider; None for audio_chat (the engine's default)."""
    if settings.mode_for(provider)[0] != "cascade":
        return None
    from assistant.modes.cascade import CascadeMode
    from assistant.speech.parts import build_parts

    return CascadeMode(
        build_parts(settings, provider),
        prices=settings.voicedesk_prices,
        audio_model=settings.voicedesk_model,
        players=stats_backend(settings).player_names,
    )


# -- one backend each -------------------------------------------------------------------------


def stats_backend(settings: Settings) -> PlayerStatsBackend:
    if settings.sql_connection_string or settings.sql_server:
        from tools.backends.odbc_stats import OdbcStats

        return OdbcStats(odbc_connector(settings))
    return sqlite_stats(settings)


def search_backend(settings: Settings) -> HelpSearchBackend:
    if settings.azure_search_endpoint:
        return azure_search(settings)
    return local_search(settings)


def grievance_backend(settings: Settings) -> GrievanceBackend:
    if settings.jira_server:
        return jira_grievances(settings)
    return local_grievances(settings)


def sqlite_stats(settings: Settings) -> SqliteStats:
    return SqliteStats(Path(settings.voicedesk_data_dir) / "stats.sqlite", create=_demo_stats)


def _demo_stats(path: Path) -> None:
    """The embedded statistics file, written from the demo data the first time it is needed."""
    from ops.demo_data import write_stats_db

    write_stats_db(path)


def local_search(settings: Settings) -> LocalHelpSearch:
    return LocalHelpSearch(Path(settings.voicedesk_data_dir) / "search.sqlite", MANUALS_DIR)


def local_grievances(settings: Settings) -> LocalGrievances:
    from ops.demo_data import SEED_GRIEVANCES  # the demo tickets every new store starts with

    return LocalGrievances(
        Path(settings.voicedesk_data_dir) / "tickets.sqlite",
        project_key=settings.jira_project_key or "GRV",
        seeds=SEED_GRIEVANCES,
    )


def odbc_connector(settings: Settings) -> OdbcConnector:
    from tools.backends.odbc_stats import OdbcConnector

    secret = settings.sql_connection_string
    return OdbcConnector(
        connection_string=secret.get_secret_value() if secret else None,
        server=settings.sql_server,
        database=settings.sql_database,
        query_timeout=settings.sql_query_timeout,
    )


def azure_search(settings: Settings) -> AzureHelpSearch:
    from tools.backends.azure_search import AzureHelpSearch

    key = settings.azure_search_api_key
    return AzureHelpSearch(
        endpoint=settings.azure_search_endpoint,
        index_name=settings.azure_search_index or "",
        api_key=key.get_secret_value() if key else None,
        semantic_configuration=settings.azure_search_semantic_configuration,
        vector_field=settings.azure_search_vector_field,
        read_timeout=max(2.0, settings.voicedesk_tool_timeout / 2),
        connect_timeout=min(3.0, max(1.0, settings.voicedesk_tool_timeout / 5)),
    )


def jira_grievances(settings: Settings) -> JiraGrievances:
    from tools.backends.jira_tickets import JiraGrievances

    token = settings.jira_api_token.get_secret_value() if settings.jira_api_token else None
    # Within one tool call (VOICEDESK_TOOL_TIMEOUT, 10 s by default) even a host that never
    # answers costs at most 3 connect attempts and 2 short waits; past that the grievance is
    # queued, never lost.
    budget = settings.voicedesk_tool_timeout
    connect = min(3.05, max(1.0, budget / 5))
    read = max(2.0, budget / 2)
    return JiraGrievances(
        server=settings.jira_server,
        email=settings.jira_email,
        api_token=token,
        project_key=settings.jira_project_key,
        issue_type=settings.jira_issue_type,
        outbox=Outbox(outbox_path(settings)),
        timeout=(connect, read),
        max_retry_delay=1.0,
    )


def outbox_path(settings: Settings) -> Path:
    return Path(settings.voicedesk_data_dir) / OUTBOX_FILE


def flush_outbox(settings: Settings) -> tuple[int, int, str]:
    """`python -m assistant outbox flush` with the settings in force (see tools' flush_outbox)."""
    jira = jira_grievances(settings) if settings.jira_server else None
    return _flush(outbox_path(settings), jira)
