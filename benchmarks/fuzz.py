"""A longer fuzz run of the properties in tests/test_fuzz.py (the suite runs 40 seeded cases of each).

    python benchmarks/fuzz.py [--examples 500]

Runs them with random (not seeded) inputs and prints, per property, how many cases were tried and whether any
input gave a traceback (a failure names the smallest such input).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=500, help="cases per property (default 500)")
    a = p.parse_args()
    env = {**os.environ, "VIS_FUZZ_EXAMPLES": str(a.examples)}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--hypothesis-show-statistics",
                        str(ROOT / "tests" / "test_fuzz.py")], cwd=ROOT, env=env, capture_output=True, text=True)
    tried = 0
    for block in r.stdout.split("test_fuzz.py::")[1:]:
        name = block.split(":", 1)[0]
        counts = [(int(a), int(b)) for a, b in re.findall(r"(\d+) passing, (\d+) failing", block)]
        passing, failing = sum(c[0] for c in counts), sum(c[1] for c in counts)
        print(f"{name:20s} {passing + failing:6d} cases, {failing} failing")
        tried += passing + failing
    failed = re.findall(r"FAILED (\S+)", r.stdout)
    print(f"{tried} cases in all; {len(failed)} properties failed" + (": " + ", ".join(failed) if failed else ""))
    if r.returncode and not failed:
        print(r.stdout[-3000:], r.stderr[-3000:])
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
