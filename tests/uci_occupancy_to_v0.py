"""Convert the UCI Occupancy Detection CSV layout to legacy export format v0 (docs/legacy-format.md).

Input: `"date","Temperature","Humidity","Light","CO2","HumidityRatio","Occupancy"` header, rows
`"<n>","YYYY-MM-DD HH:MM:SS",<temperature>,<humidity>,<light>,<co2>,<humidity ratio>,<occupancy>` (a row number
first, so rows have one field more than the header). The times are local to the office in Mons, Belgium.
Output: `<out>/<YYYY>/<MM>/<device_id>.csv`, header `timestamp,temp,rh,light,co2`, naive local timestamps (the
migration reads them in the site's zone), values unchanged in their raw units; the humidity ratio and the
occupancy label are not sensor channels and are left out.

    python tests/uci_occupancy_to_v0.py tests/data/uci_occupancy/datatraining_excerpt.txt OUT --device uci-room
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

HEADER = ["date", "Temperature", "Humidity", "Light", "CO2", "HumidityRatio", "Occupancy"]
CHANNELS = {"temp": "Temperature", "rh": "Humidity", "light": "Light", "co2": "CO2"}


def convert(source: Path, out: Path, device_id: str) -> dict[str, int]:
    """Write one v0 file per month; returns rows written per month (YYYY-MM)."""
    by_month: dict[str, list[list[str]]] = {}
    with source.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        if header != HEADER:
            raise SystemExit(f"{source}: not the UCI occupancy layout (header {header})")
        for line, row in enumerate(reader, start=2):
            if len(row) != len(HEADER) + 1:
                raise SystemExit(f"{source}:{line}: {len(row)} fields, expected {len(HEADER) + 1}")
            values = dict(zip(HEADER, row[1:], strict=True))
            stamp = values["date"].replace(" ", "T")
            by_month.setdefault(stamp[:7], []).append([stamp, *(values[c] for c in CHANNELS.values())])
    for month, rows in by_month.items():
        target = out / month[:4] / month[5:7] / f"{device_id}.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["timestamp", *CHANNELS])
            writer.writerows(rows)
    return {month: len(rows) for month, rows in sorted(by_month.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--device", default="uci-room", help="device_id of the room's sensor box")
    args = parser.parse_args()
    print(convert(args.source, args.out, args.device))


if __name__ == "__main__":
    main()
