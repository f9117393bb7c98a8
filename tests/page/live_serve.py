"""serve.py for the Live browser test: the page (tests/page/streaming_page.py) with its
sockets, the live relay opening sessions with the opener named in VOICEDESK_TEST_LIVE_OPENER
("module:function"; the scripted session by default). With the engine's factory in place,
"page.live_relay:open_with_factory" runs the same test against the real live session."""

import importlib
import os

import streamlit as st

from page.live_relay import LIVE
from page.stream import HUB
from page.stream_route import routes

_module, _name = os.environ.get(
    "VOICEDESK_TEST_LIVE_OPENER", "tests.page.live_script:open_scripted"
).split(":")
LIVE.opener = getattr(importlib.import_module(_module), _name)
app = st.App(
    "streaming_page.py", routes=routes(HUB, st.get_option("server.baseUrlPath"), live=LIVE)
)
