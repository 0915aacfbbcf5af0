"""Run every benchmark and write docs/performance.md.

    .venv/bin/python -m bench.run            # full sizes (tens of minutes)
    .venv/bin/python -m bench.run --quick    # small sizes, a few minutes
    .venv/bin/python -m bench.run --only write --only ledger

Each benchmark module exposes `run(quick: bool) -> list[Figure]`; each figure carries the
baseline it is judged against, measured in the same run, so the ratios mean something on
a shared, noisy machine where absolute numbers do not.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from bench.common import Figure, machine_description

BENCHMARKS = {
    "write": "bench.bench_write",
    "projections": "bench.bench_projections",
    "ledger": "bench.bench_ledger",
    "api": "bench.bench_api",
    "web": "bench.bench_web",
}
REPORT = Path(__file__).resolve().parents[1] / "docs" / "performance.md"


def _format(value: float) -> str:
    if value != value:  # NaN
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def render(figures: list[Figure], problems: list[str], seconds: float, quick: bool,
           load: tuple[float, float]) -> str:
    lines = [
        "# Performance",
        "",
        "Written by `python -m bench.run` "
        f"({'quick sizes' if quick else 'full sizes'}), {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"in {seconds / 60:.1f} minutes.",
        "",
        f"**Machine:** {machine_description()}. Load average (1 min) {load[0]:.1f} when the "
        f"run began and {load[1]:.1f} when it ended: above 2, other work shared the cores.",
        "",
        "Every figure stands beside a baseline measured in the same run; the ratio is the "
        "figure to read. Targets are the issues' (as ratios to their baselines).",
        "",
    ]
    sections: dict[str, list[Figure]] = {}
    for figure in figures:
        sections.setdefault(figure.section, []).append(figure)
    for section, rows in sections.items():
        lines += [f"## {section}", "",
                  "| figure | value | baseline | baseline value | ratio | target | met |",
                  "|---|---:|---|---:|---:|---:|:---:|"]
        for f in rows:
            target = "" if f.target is None else (f"≥ {f.target:g}" if f.higher_is_better
                                                   else f"≤ {f.target:g}")
            met = {None: "", True: "yes", False: "**no**"}[f.meets_target]
            lines.append(f"| {f.name} | {_format(f.value)} {f.unit} | {f.baseline_name} | "
                         f"{_format(f.baseline_value)} {f.unit} | {f.ratio:.2f} | {target} | "
                         f"{met} |")
        notes = [f"- {f.name}: {f.note}" for f in rows if f.note]
        lines += [""] + notes + ([""] if notes else [])
    if problems:
        lines += ["## Not measured in this run", ""] + [f"- {p}" for p in problems] + [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS))
    parser.add_argument("--output", type=Path, default=REPORT)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    load_before = os.getloadavg()[0]
    figures: list[Figure] = []
    problems: list[str] = []
    for name in args.only or list(BENCHMARKS):
        module_name = BENCHMARKS[name]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            problems.append(f"{name}: no benchmark module `{module_name}` yet")
            continue
        print(f"== {name}", file=sys.stderr, flush=True)
        try:
            figures += module.run(quick=args.quick)
        except Exception as error:  # noqa: BLE001 - one failing benchmark must not hide the rest
            traceback.print_exc()
            problems.append(f"{name}: failed with {type(error).__name__}: {error}")
    report = render(figures, problems, time.perf_counter() - began, args.quick,
                    (load_before, os.getloadavg()[0]))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report + "\n", encoding="utf-8")
    print(report)
    return 1 if problems and not figures else 0


if __name__ == "__main__":
    raise SystemExit(main())
