"""serve.py, serving tests/page/streaming_page.py: the stream socket beside a page whose
engine streams slowly (see tests/page/streaming.py)."""

import streamlit as st

from page.stream import HUB
from page.stream_route import routes

app = st.App("streaming_page.py", routes=routes(HUB, st.get_option("server.baseUrlPath")))
