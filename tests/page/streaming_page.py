"""The page (app.py) answering with tests/page/streaming.py's engine, for the browser tests."""

import runpy
from pathlib import Path

import page.resources
from tests.page.streaming import shared_engine

page.resources.engine = lambda provider, model, mode=None: shared_engine()
runpy.run_path(str(Path(__file__).resolve().parents[2] / "app.py"), run_name="__main__")
