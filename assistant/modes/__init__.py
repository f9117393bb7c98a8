"""Voice modes: each turns one question into events and an Answer (see base.py)."""
