"""The Streamlit page's helpers. Streamlit is imported here and in app.py only; the engine
(assistant/, tools/) never imports it."""
