"""How fast trustctl starts: `--help` and `--version` against `python3 -c pass`.

Issue 5 asks that these paths import neither SQLAlchemy nor cryptography.  Run:
`python bench/cli_startup.py [--runs 30]`; prints medians and ratios.  CI does not time it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def median_seconds(command: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    baseline = median_seconds([sys.executable, "-c", "pass"], args.runs)
    print(f"python3 -c pass: {baseline * 1000:.1f} ms (median of {args.runs})")
    for flag in ("--help", "--version"):
        spent = median_seconds([sys.executable, "-m", "trustctl", flag], args.runs)
        print(f"trustctl {flag:<9}: {spent * 1000:.1f} ms, {spent / baseline:.1f}x python3 -c pass")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
