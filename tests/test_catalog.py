"""The catalog: CSV validation (every problem at once), loads in one transaction, round trips, PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from wenulake.catalog.csvfiles import CatalogInvalid, read_catalog
from wenulake.catalog.store import CatalogStore, normalise_url
from wenulake.settings import Settings


@pytest.fixture
def catalog_dir(sample, tmp_path) -> Path:
    folder = tmp_path / "catalog"
    shutil.copytree(sample["dir"] / "catalog", folder)
    return folder


def same_rows(a: dict, b: dict) -> bool:
    """Equal catalogs, whatever the row order of the files."""
    return {k: sorted(map(repr, v)) for k, v in a.items()} == {k: sorted(map(repr, v)) for k, v in b.items()}


def edit(path: Path, line: int, old: str, new: str) -> None:
    lines = path.read_text().splitlines()
    assert old in lines[line - 1], (line, lines[line - 1])
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    path.write_text("\n".join(lines) + "\n")


def test_load_twice_changes_nothing_and_export_round_trips(catalog_dir, tmp_path):
    store = CatalogStore(Settings(home=tmp_path / "home"))
    first = store.load(catalog_dir)
    assert first.added["sensors"] > 0
    assert store.load(catalog_dir).unchanged
    store.export(tmp_path / "exported")
    assert store.load(tmp_path / "exported").unchanged
    assert same_rows(read_catalog(tmp_path / "exported"), read_catalog(catalog_dir))


def test_a_changed_directory_updates_adds_and_removes_rows(catalog_dir, tmp_path):
    store = CatalogStore(Settings(home=tmp_path / "home"))
    store.load(catalog_dir)
    sensors = catalog_dir / "sensors.csv"
    header, first, *rest = sensors.read_text().splitlines()
    fields = first.split(",")
    fields[6] = "1.5"  # scale
    sensors.write_text("\n".join([header, ",".join(fields), *rest]) + "\n")
    thresholds = catalog_dir / "thresholds.csv"
    lines = thresholds.read_text().splitlines()
    thresholds.write_text("\n".join(lines[:-1]) + "\n")
    report = store.load(catalog_dir)
    assert report.changed["sensors"] == 1
    assert report.removed["thresholds"] == 1
    assert next(r for r in store.rows("sensors") if r["sensor_id"] == fields[0])["scale"] == 1.5


def test_every_problem_is_reported_with_file_line_and_column_and_nothing_is_written(catalog_dir, tmp_path):
    store = CatalogStore(Settings(home=tmp_path / "home"))
    store.load(catalog_dir)
    before = {t: store.rows(t) for t in ("companies", "sites", "devices", "sensors", "thresholds")}

    edit(catalog_dir / "sites.csv", 2, "Europe/Madrid", "Mars/Olympus")
    with open(catalog_dir / "devices.csv", "a") as fh:
        fh.write("dev-09999,no-such-site,2026-01-01T00:00:00Z,,\n")
        fh.write("dev-00002,s0001,2026-01-01T00:00:00Z,,\n")  # duplicate id
    sensors = (catalog_dir / "sensors.csv").read_text().splitlines()
    overlap = sensors[1].split(",")
    overlap[0], overlap[-2], overlap[-1] = "dev-00001-temp-9", "2026-04-04T00:30:00Z", ""
    bad_unit = sensors[2].split(",")
    bad_unit[0], bad_unit[4], bad_unit[5] = "bad-unit", "furlong", "meter"
    sensors += [",".join(overlap), ",".join(bad_unit)]
    (catalog_dir / "sensors.csv").write_text("\n".join(sensors) + "\n")
    companies = (catalog_dir / "companies.csv").read_text().replace("company_id,name", "company_id,title")
    (catalog_dir / "companies.csv").write_text(companies)

    with pytest.raises(CatalogInvalid) as invalid:
        store.load(catalog_dir)
    problems = [str(p) for p in invalid.value.problems]
    joined = "\n".join(problems)
    assert "companies.csv:1: name: missing column" in joined
    assert "companies.csv:1: title: unknown column" in joined
    assert "sites.csv:2: timezone: expected an IANA time zone, got 'Mars/Olympus'" in joined
    assert "'no-such-site' is not a site_id of the catalog" in joined
    assert "device_id: duplicate id 'dev-00002'" in joined
    assert "overlaps 'dev-00001-temp-1'" in joined
    assert "got 'furlong'" in joined
    assert "kind: expected gauge or counter, got 'meter'" in joined
    # nothing was written
    assert {t: store.rows(t) for t in before} == before


def test_bad_numbers_and_inverted_validity(catalog_dir):
    sensors = catalog_dir / "sensors.csv"
    lines = sensors.read_text().splitlines()
    fields = lines[1].split(",")
    fields[7] = "1e"  # offset
    fields[9] = "2000-01-01T00:00:00Z"  # valid_to before valid_from
    lines[1] = ",".join(fields)
    sensors.write_text("\n".join(lines) + "\n")
    with pytest.raises(CatalogInvalid) as invalid:
        read_catalog(catalog_dir)
    problems = [str(p) for p in invalid.value.problems]
    assert "sensors.csv:2: offset: expected a number, got '1e'" in problems
    assert any(p.startswith("sensors.csv:2: valid_to: must be after valid_from") for p in problems)


def test_report_interval_s_is_optional_validated_and_round_trips(catalog_dir, tmp_path):
    devices = catalog_dir / "devices.csv"
    header, *rows = devices.read_text().splitlines()
    assert header.split(",")[-1] == "report_interval_s"
    # a devices.csv without the column (as before it existed) loads: every cadence is learned
    devices.write_text("\n".join(",".join(line.split(",")[:-1]) for line in [header, *rows]) + "\n")
    store = CatalogStore(Settings(home=tmp_path / "home"))
    store.load(catalog_dir)
    assert {r["report_interval_s"] for r in store.rows("devices")} == {None}
    # bad values are reported with their line (the header is line 1) and nothing is loaded
    lines = [header] + [line.rsplit(",", 1)[0] + "," for line in rows]
    for line, bad in ((2, "0"), (3, "1.5"), (4, "abc")):
        lines[line - 1] += bad
    devices.write_text("\n".join(lines) + "\n")
    with pytest.raises(CatalogInvalid) as invalid:
        store.load(catalog_dir)
    problems = [str(p) for p in invalid.value.problems]
    for line, bad in ((2, "0"), (3, "1.5"), (4, "abc")):
        assert (
            f"devices.csv:{line}: report_interval_s: expected a positive whole number of seconds, got '{bad}'"
            in (problems)
        )
    lines[1:4] = [
        line.rsplit(",", 1)[0] + "," + value
        for line, value in zip(lines[1:4], ("3600", "300", ""), strict=True)
    ]
    devices.write_text("\n".join(lines) + "\n")
    store.load(catalog_dir)
    intervals = {r["device_id"]: r["report_interval_s"] for r in store.rows("devices")}
    assert sorted(v for v in intervals.values() if v) == [300, 3600]
    store.export(tmp_path / "exported")
    assert store.load(tmp_path / "exported").unchanged
    assert store.snapshot()["devices"].column("report_interval_s").to_pylist().count(3600) == 1


def test_migration_0005_adds_report_interval_s_to_existing_devices(tmp_path):
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, text

    from wenulake.catalog.store import MIGRATIONS

    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    engine = create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
        connection.execute(text("insert into companies (company_id, name) values ('c', 'C')"))
        connection.execute(
            text("insert into sites (site_id, company_id, name, timezone) values ('s', 'c', 'S', 'UTC')")
        )
        connection.execute(text("insert into devices (device_id, site_id) values ('d', 's')"))
    engine.dispose()
    store = CatalogStore(Settings(home=tmp_path / "home", catalog_url=url))
    assert [(r["device_id"], r["report_interval_s"]) for r in store.rows("devices")] == [("d", None)]
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
        columns = [row[1] for row in connection.execute(text("pragma table_info(devices)"))]
    assert "report_interval_s" not in columns


def test_missing_file_and_directory(tmp_path, catalog_dir):
    (catalog_dir / "thresholds.csv").unlink()
    with pytest.raises(CatalogInvalid, match=r"thresholds\.csv: file missing"):
        read_catalog(catalog_dir)
    with pytest.raises(Exception, match="does not exist"):
        read_catalog(tmp_path / "nope")


def test_postgres_urls_are_normalised():
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"


@pytest.mark.postgres
def test_catalog_on_postgresql(postgres_url, catalog_dir, tmp_path):
    store = CatalogStore(Settings(home=tmp_path / "home", catalog_url=postgres_url))
    assert store.load(catalog_dir).added["devices"] > 0
    assert store.load(catalog_dir).unchanged
    store.export(tmp_path / "exported")
    assert same_rows(read_catalog(tmp_path / "exported"), read_catalog(catalog_dir))
    snapshot = store.snapshot()
    assert snapshot["sensors"].num_rows == len(read_catalog(catalog_dir)["sensors"])
    assert str(snapshot["sensors"].schema.field("valid_from").type) == "timestamp[us, tz=UTC]"


def test_unreachable_catalog_database_is_a_clear_error(tmp_path):
    store = CatalogStore(Settings(home=tmp_path, catalog_url="postgresql://nobody@127.0.0.1:1/none"))
    with pytest.raises(Exception, match="cannot reach the catalog database"):
        store.migrate()
