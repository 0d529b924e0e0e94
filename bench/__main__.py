"""`make bench`: every benchmark, printed and written to bench/RESULTS.md with the machine and date."""

from __future__ import annotations

import importlib
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

SUITES = ("bench.service", "bench.decode", "bench.cluster", "bench.phone", "bench.inspections", "bench.records")


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal"))) // 1024 // 1024
    return f"{os.cpu_count()} cores ({cpu}), {memory} GiB, {platform.system()} {platform.release()}, Python " \
           f"{platform.python_version()}"


def main(argv: list[str]) -> int:
    wanted = [s for s in SUITES if not argv or any(a in s for a in argv)]
    lines = ["# Benchmark results", "", f"Machine: {machine()}  ", f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
             "", "Run with `make bench` (all) or `make bench ARGS=service|decode|cluster|phone|records`.", ""]
    for name in wanted:
        module = importlib.import_module(name)
        section = module.run()
        print("\n".join(section), flush=True)
        lines += section
    if not argv:
        Path(__file__).with_name("RESULTS.md").write_text("\n".join(lines) + "\n", "utf-8")
        print(f"written to {Path(__file__).with_name('RESULTS.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
