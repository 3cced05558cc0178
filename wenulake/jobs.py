"""The `spark-submit` entry points of `jobs/`: one argument parser for every Spark stage.

`jobs/<stage>.py --start ISO --end ISO [--run-id ID] [--step all|stage|publish] [--allow-missing-objects]` runs
the same functions the DAG tasks call (`--allow-missing-objects`, bronze only, is the DAG's Param of that name): `stage` is the Spark step (executors write the staged files), `publish` the gate and commit, `all`
both (the default). It prints one JSON line (job, run_id, interval, each step's summary under `steps`); errors are one line and exit 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from wenulake.settings import Settings
from wenulake.timeutil import Interval, iso

Step = Callable[[Settings, Interval, str], Any]


def main(
    argv: list[str] | None,
    stage: str,
    description: str,
    steps: dict[str, Step],
    allow_missing_objects: bool = False,
) -> int:
    parser = argparse.ArgumentParser(prog=f"jobs/{stage}.py", description=description)
    parser.add_argument("--start", required=True, help="interval start, ISO 8601 UTC")
    parser.add_argument("--end", required=True, help="interval end (exclusive), ISO 8601 UTC")
    parser.add_argument("--run-id", help="run id recorded in the tables (default: derived from now)")
    parser.add_argument(
        "--step",
        choices=["all", *steps],
        default="all",
        help="the Spark step, the gate and commit, or both in order (default)",
    )
    if allow_missing_objects:
        parser.add_argument(
            "--allow-missing-objects",
            action="store_true",
            help="accept that the landing lost objects of hours already ingested (the stage step)",
        )
    args = parser.parse_args(argv)
    from wenulake.errors import WenulakeError

    try:
        interval = Interval.parse(args.start, args.end)
    except ValueError as exc:
        parser.error(str(exc))
    run_id = args.run_id or f"{stage}__{iso(datetime.now(UTC))}"
    settings = Settings()
    chosen = list(steps) if args.step == "all" else [args.step]
    try:
        out = {}
        for name in chosen:
            if name == "stage" and getattr(args, "allow_missing_objects", False):
                result = steps[name](settings, interval, run_id, True)  # type: ignore[call-arg]
            else:
                result = steps[name](settings, interval, run_id)
            out[name] = _summary(result)
    except WenulakeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"job": stage, "run_id": run_id, "interval": str(interval), "steps": out}, default=str))
    return 0


def _summary(result: Any) -> Any:
    return result.as_dict() if hasattr(result, "as_dict") else result
