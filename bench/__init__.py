"""VoiceDesk's benchmarks: `python -m bench` prints a table of figures, `--json` one object.

Each figure is a median or a percentile over repeated runs after a warm-up. Figures that cannot
be measured here are reported as null with the reason, never estimated. Benchmarks only print;
no test asserts a figure (tests/test_bench.py only checks that the run works).
"""
