"""`make bench-catalog`: latency of the catalog service's list endpoints with 100k sensors in PostgreSQL.

Creates a database of its own on the PostgreSQL server (127.0.0.1:5432, dropped afterwards), fills it with
1 company, 100 sites, 10k devices and 100k sensors (the issue's goal: list endpoints answer in under 50 ms at the
95th percentile), starts `wenulake serve` (uvicorn) on a free loopback port and sends each kind of list request
N times, one at a time, with a viewer's token. Prints p50/p95/max per kind and writes bench/results/catalog_api.json.

    python bench/catalog_api.py [--sensors 100000] [--requests 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import insert

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))  # the tests' service helpers start the real server

from tests.service_helpers import postgres_database, running_service  # noqa: E402

KINDS = {
    "first page": {},
    "filter device": {"device_id": "dev-004242"},
    "sort channel desc": {"sort": "channel", "order": "desc"},
    "deep page": {"offset": 90_000},
    "search": {"q": "dev-00424"},
}


def fill(url: str, sensors: int) -> None:
    from wenulake.catalog import schema
    from wenulake.catalog.store import CatalogStore
    from wenulake.settings import Settings

    store = CatalogStore(Settings(home=Path(tempfile.mkdtemp()), catalog_url=url))
    store.migrate()
    devices = max(1, sensors // 10)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with store.engine.begin() as connection:
        connection.execute(insert(schema.companies), [{"company_id": "co-1", "name": "Bench"}])
        connection.execute(
            insert(schema.sites),
            [
                {"site_id": f"site-{i:03d}", "company_id": "co-1", "name": f"Site {i}", "timezone": "UTC"}
                for i in range(100)
            ],
        )
        connection.execute(
            insert(schema.devices),
            [
                {"device_id": f"dev-{i:06d}", "site_id": f"site-{i % 100:03d}", "installed_at": start}
                for i in range(devices)
            ],
        )
        rows = [
            {"sensor_id": f"dev-{i // 10:06d}-ch{i % 10}", "device_id": f"dev-{i // 10:06d}", "channel": f"ch{i % 10}",
             "metric": "temperature", "unit": "°C", "kind": "gauge", "scale": 1.0, "offset": 0.0, "valid_from": start,
             "valid_to": None}
            for i in range(sensors)
        ]  # fmt: skip
        for chunk in range(0, len(rows), 10_000):
            connection.execute(insert(schema.sensors), rows[chunk : chunk + 10_000])
        connection.exec_driver_sql("analyze")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sensors", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args(argv)
    results: dict[str, dict[str, float]] = {}
    with postgres_database() as url:
        began = time.perf_counter()
        fill(url, args.sensors)
        print(f"filled {args.sensors} sensors in {time.perf_counter() - began:.1f} s")
        with running_service(Path(tempfile.mkdtemp()), url) as service:
            headers = {"Authorization": f"Bearer {service.tokens['viewer']}"}
            with httpx.Client(base_url=service.url, headers=headers, timeout=30) as client:
                for _ in range(20):  # warm up: connections, plans, caches
                    client.get("/api/v1/sensors")
                for kind, params in KINDS.items():
                    seconds = []
                    for _ in range(args.requests):
                        t0 = time.perf_counter()
                        answer = client.get("/api/v1/sensors", params={"limit": 50, **params})
                        seconds.append(time.perf_counter() - t0)
                        assert answer.status_code == 200, answer.text
                    seconds.sort()
                    results[kind] = {
                        "p50_ms": round(statistics.median(seconds) * 1000, 1),
                        "p95_ms": round(seconds[int(0.95 * (len(seconds) - 1))] * 1000, 1),
                        "max_ms": round(seconds[-1] * 1000, 1),
                        "total": answer.json()["total"],
                    }
    print(f"{'GET /api/v1/sensors':<22} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'total':>8}")
    for kind, r in results.items():
        print(f"{kind:<22} {r['p50_ms']:>8} {r['p95_ms']:>8} {r['max_ms']:>8} {r['total']:>8}")
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"sensors": args.sensors, "requests_per_kind": args.requests, "measured_at": datetime.now(UTC).isoformat(),
              "results": results}  # fmt: skip
    (args.out / "catalog_api.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
