"""Run the resilience suite and print the table of what was tried and what came of it:

python -m tests.resilience                         # run, then print the table
python -m tests.resilience --write README.md   # and put it into that page
python -m tests.resilience -- -k secrets           # anything after -- goes to pytest
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from tests.resilience.report import Collector, render, write_into

SUITE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.resilience", description=__doc__)
    parser.add_argument("--write", type=Path, help="put the table into this Markdown file")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
    args = parser.parse_args(argv)
    collector = Collector()
    status = pytest.main([str(SUITE), "-q", "-p", "no:cacheprovider", *args.pytest_args],
                         plugins=[collector])  # fmt: skip
    table = render(collector)
    print("\n" + table)
    if args.write:
        write_into(args.write, table)
        print(f"\n(written into {args.write})")
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
