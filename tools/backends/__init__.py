"""The three backends the tools run on. Which ones, and with what settings, is chosen by the
engine's wiring (assistant/service.py): nothing under tools/ reads the settings.

Constructors never do I/O that can fail, so a missing or broken backend never stops the app
from starting; it reports itself through `check()` and through the tool's error results.
"""

from __future__ import annotations

from dataclasses import dataclass

from tools.grievances import GrievanceBackend
from tools.help_search import HelpSearchBackend
from tools.player_stats import PlayerStatsBackend


@dataclass
class Backends:
    stats: PlayerStatsBackend
    search: HelpSearchBackend
    grievances: GrievanceBackend
