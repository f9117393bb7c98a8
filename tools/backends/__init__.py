"""Choose each tool's backend: the cloud one when its settings are present, else the embedded one.

Constructors never do I/O that can fail, so a missing or broken backend never stops the app
from starting; it reports itself through `check()` and through the tool's error results.
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.config import Settings
from tools.grievances import GrievanceBackend
from tools.help_search import HelpSearchBackend
from tools.player_stats import PlayerStatsBackend


@dataclass
class Backends:
    stats: PlayerStatsBackend
    search: HelpSearchBackend
    grievances: GrievanceBackend


def build_backends(settings: Settings) -> Backends:
    return Backends(
        stats=_stats_backend(settings),
        search=_search_backend(settings),
        grievances=_grievance_backend(settings),
    )


def _stats_backend(settings: Settings) -> PlayerStatsBackend:
    if settings.sql_connection_string or settings.sql_server:
        from tools.backends.odbc_stats import OdbcStats

        return OdbcStats.from_settings(settings)
    from tools.backends.sqlite_stats import SqliteStats

    return SqliteStats.from_settings(settings)


def _search_backend(settings: Settings) -> HelpSearchBackend:
    if settings.azure_search_endpoint:
        from tools.backends.azure_search import AzureHelpSearch

        return AzureHelpSearch.from_settings(settings)
    from tools.backends.local_search import LocalHelpSearch

    return LocalHelpSearch.from_settings(settings)


def _grievance_backend(settings: Settings) -> GrievanceBackend:
    if settings.jira_server:
        from tools.backends.jira_tickets import JiraGrievances

        return JiraGrievances.from_settings(settings)
    from tools.backends.local_tickets import LocalGrievances

    return LocalGrievances.from_settings(settings)
