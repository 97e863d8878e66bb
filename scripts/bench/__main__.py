"""``python -m scripts.bench [NAME…]``: run the benchmarks (all by default) and print figures."""

from __future__ import annotations

import importlib
import sys

BENCHES = [
    "auth",
    "footprint",
    "swap",
    "hold",
    "proxy",
    "realvllm",
    "history",
    "timeouts",
    "downloads",
]


def main(argv: list[str]) -> int:
    names = argv or BENCHES
    for name in names:
        if name not in BENCHES:
            print(f"unknown benchmark {name!r}; choose from {', '.join(BENCHES)}", file=sys.stderr)
            return 2
    for name in names:
        print(f"== {name}")
        module = importlib.import_module(f"scripts.bench.{name}")
        module.main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
