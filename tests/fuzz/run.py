"""Run one fuzz target under atheris (libFuzzer): `python -m tests.fuzz.run TARGET --seconds N [--work DIR]`.

The corpus starts from `targets.seeds(TARGET)` (generated sample records and small literals) and grows in
`DIR/corpus`; a crashing input is written to `DIR/crash-<sha1>` and the process exits non-zero. `make fuzz` runs
every target for FUZZ_SECONDS; `tests/fuzz/test_fuzz.py` runs each for a bounded time in `make test`. Replay an
input with `python -m tests.fuzz.run TARGET --replay FILE`.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=("sensors", "workorders", "legacy", "catalog"))
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument(
        "--work", type=Path, default=None, help="corpus and crash folder (default: a temp dir)"
    )
    parser.add_argument("--replay", type=Path, default=None, help="run the target once on this input")
    parser.add_argument(
        "--seed", type=int, default=0, help="libFuzzer's random seed (0: chosen by libFuzzer)"
    )
    args = parser.parse_args(argv)

    import atheris

    with atheris.instrument_imports(include=["wenulake"]):
        import wenulake.catalog.csvfiles
        import wenulake.catalog.validation
        import wenulake.landing
        import wenulake.legacy
        import wenulake.pipeline.workorders
        import wenulake.transforms.bronze
        import wenulake.transforms.workorders  # noqa: F401

    from tests.fuzz import targets

    target = targets.TARGETS[args.target]
    seeds = targets.seeds(args.target)  # also the keyring, before the fuzzer starts
    if args.replay is not None:
        target(args.replay.read_bytes())
        print(f"{args.target}: {args.replay} passes")
        return
    work = args.work or Path(tempfile.mkdtemp(prefix=f"fuzz-{args.target}-"))
    corpus = work / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        (corpus / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
    libfuzzer = [
        sys.argv[0],
        str(corpus),
        f"-max_total_time={args.seconds}",
        f"-artifact_prefix={work}/",
        "-max_len=8192",
        "-rss_limit_mb=2048",
        "-timeout=10",
        "-print_final_stats=1",
    ]
    if args.seed:
        libfuzzer.append(f"-seed={args.seed}")
    print(f"fuzzing {args.target} for {args.seconds} s, {len(seeds)} seeds, work folder {work}", flush=True)
    atheris.Setup(libfuzzer, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
