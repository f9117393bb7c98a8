"""What `make run` starts: the page (app.py) with the stream socket beside it, through which
answers play as they are generated (page/stream_route.py). Run `streamlit run serve.py` with
any of Streamlit's options (--server.port, --server.baseUrlPath, ...), or `python serve.py`."""

import streamlit as st

from page.stream import HUB
from page.stream_route import routes

app = st.App("app.py", routes=routes(HUB, st.get_option("server.baseUrlPath")))

if __name__ == "__main__":
    app.run()
