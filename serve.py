"""What `make run` starts: the page (app.py) with its sockets beside it: the stream socket,
through which answers play as they are generated, and the live socket, through which Live mode
streams the microphone (page/stream_route.py). Run `streamlit run serve.py` with any of
Streamlit's options (--server.port, --server.baseUrlPath, ...), or `python serve.py`."""

import streamlit as st

from page.live_relay import LIVE
from page.stream import HUB
from page.stream_route import routes

app = st.App("app.py", routes=routes(HUB, st.get_option("server.baseUrlPath"), live=LIVE))

if __name__ == "__main__":
    app.run()
