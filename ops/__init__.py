"""One-off operations, apart from the engine: demo data, the Azure SQL loader, the index build.

They sit above `assistant` and `tools` (they may import both); nothing in the engine imports them
at load time.
"""
