"""Catalog changes made by people (the service's API and pages): create, update, retire, with history.

Every change is one transaction that checks the row's `version` (optimistic concurrency: a stale version is
refused, never silently overwritten), validates the row with `wenulake.catalog.validation` (the rules of
`catalog load`), and writes an audit_log row with the row before and after. Nothing that readings refer to is
deleted: retiring sets an end date, and a sensor's metric, unit, kind, scale or offset change closes the
current sensor at a date and opens a new sensor (a new id, DESIGN's catalog contract) from that date.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from wenulake.catalog import schema, validation
from wenulake.catalog.store import CatalogStore, _utc, json_row
from wenulake.catalog.validation import Checker, FieldProblem
from wenulake.errors import WenulakeError
from wenulake.timeutil import iso


class NotFound(WenulakeError):
    pass


class Conflict(WenulakeError):
    """The change cannot apply to the current state (an id that exists, an overlapping validity, ...)."""


class StaleVersion(WenulakeError):
    """The row changed since the caller read it."""

    def __init__(self, resource: str, object_id: str, expected: int, current: int) -> None:
        self.current = current
        super().__init__(
            f"{resource} {object_id!r} was changed by someone else (you edited version {expected}, it is now "
            f"version {current}): reload it and apply your change again"
        )


class Invalid(WenulakeError):
    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = sorted(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


Rule = Callable[[Mapping[str, Any], Checker, Connection], dict[str, Any]]


def _exists(connection: Connection, table: Table) -> validation.Exists:
    key = next(iter(table.primary_key.columns))
    return lambda value: connection.execute(select(key).where(key == value)).first() is not None


@dataclass(frozen=True)
class Resource:
    """A catalog table as the service exposes it."""

    name: str  # plural, the URL segment
    singular: str
    table: Table
    key: str
    create_fields: tuple[str, ...]
    update_fields: tuple[str, ...]
    search: tuple[str, ...]
    filters: tuple[str, ...]
    rule: Rule
    #: how retiring ends it: a timestamp column set to the date, or `active` set to false
    retire_column: str

    @property
    def columns(self) -> list[str]:
        return [c.name for c in self.table.columns]

    def is_retired(self, row: Mapping[str, Any]) -> bool:
        if self.retire_column == "active":
            return not row["active"]
        end = row[self.retire_column]
        return end is not None and _utc(end) <= datetime.now(UTC)


RESOURCES: dict[str, Resource] = {
    r.name: r
    for r in (
        Resource(
            "companies", "company", schema.companies, "company_id", ("company_id", "name"), ("name",),
            ("company_id", "name"), (), lambda row, c, _con: validation.company(row, c), "retired_at",
        ),
        Resource(
            "sites", "site", schema.sites, "site_id", ("site_id", "company_id", "name", "timezone"),
            ("name", "timezone"), ("site_id", "name"), ("company_id",),
            lambda row, c, con: validation.site(row, c, _exists(con, schema.companies)), "retired_at",
        ),
        Resource(
            "devices", "device", schema.devices, "device_id",
            ("device_id", "site_id", "installed_at", "report_interval_s"),
            ("site_id", "installed_at", "report_interval_s"), ("device_id",), ("site_id",),
            lambda row, c, con: validation.device(row, c, _exists(con, schema.sites)), "retired_at",
        ),
        Resource(
            "sensors", "sensor", schema.sensors, "sensor_id",
            ("sensor_id", "device_id", "channel", "metric", "unit", "kind", "scale", "offset", "valid_from"),
            ("metric", "unit", "kind", "scale", "offset"), ("sensor_id", "channel"),
            ("device_id", "metric", "kind"),
            lambda row, c, con: validation.sensor(row, c, _exists(con, schema.devices)), "valid_to",
        ),
        Resource(
            "thresholds", "threshold", schema.thresholds, "threshold_id",
            ("sensor_id", "metric", "min_value", "max_value", "severity"), ("min_value", "max_value"),
            ("threshold_id",), ("sensor_id", "metric", "severity"),
            lambda row, c, con: validation.threshold(row, c, _exists(con, schema.sensors)), "retired_at",
        ),
        Resource(
            "technicians", "technician", schema.technicians, "technician_id",
            ("technician_id", "name", "company"), ("name", "company"), ("technician_id", "name", "company"),
            (), lambda row, c, _con: validation.technician(row, c), "active",
        ),
        Resource(
            "materials", "material", schema.materials, "material_id", ("material_id", "name", "unit"),
            ("name", "unit"), ("material_id", "name"), (),
            lambda row, c, _con: validation.material(row, c), "retired_at",
        ),
    )
}  # fmt: skip

#: A change of one of these makes a new sensor version instead of an edit in place.
SENSOR_VERSIONED = ("metric", "unit", "kind", "scale", "offset")


@dataclass
class Page:
    rows: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


def _row(result_row: Any) -> dict[str, Any]:
    return {k: _utc(v) for k, v in result_row._mapping.items()}


class Catalog:
    """The operations of the service over the catalog database."""

    def __init__(self, store: CatalogStore) -> None:
        self.store = store
        store.migrate()
        self.engine = store.engine

    # -- read --------------------------------------------------------------------------------------------------
    def list(
        self,
        resource: Resource,
        q: str | None = None,
        filters: Mapping[str, str] | None = None,
        sort: str | None = None,
        descending: bool = False,
        limit: int = 50,
        offset: int = 0,
        include_retired: bool = True,
    ) -> Page:
        t = resource.table
        where: list[Any] = []
        if q:
            pattern = f"%{q.lower()}%"
            where.append(or_(*(func.lower(t.c[c]).like(pattern) for c in resource.search)))
        for column, value in (filters or {}).items():
            where.append(t.c[column] == value)
        if not include_retired:
            if resource.retire_column == "active":
                where.append(t.c.active.is_(True))
            else:
                end = t.c[resource.retire_column]
                where.append(or_(end.is_(None), end > datetime.now(UTC)))
        order = t.c[sort] if sort is not None and sort in t.c else t.c[resource.key]
        with self.engine.connect() as connection:
            total = connection.execute(select(func.count()).select_from(t).where(*where)).scalar_one()
            query = (
                select(t)
                .where(*where)
                # the tie-break follows the sort's direction, so an index on (column, key) serves both
                .order_by(*(c.desc() if descending else c.asc() for c in (order, t.c[resource.key])))
                .limit(limit)
                .offset(offset)
            )
            rows = [_row(r) for r in connection.execute(query)]
        return Page(rows, int(total), limit, offset)

    def get(self, resource: Resource, object_id: str) -> dict[str, Any]:
        with self.engine.connect() as connection:
            return self._get(connection, resource, object_id)

    def _get(self, connection: Connection, resource: Resource, object_id: str) -> dict[str, Any]:
        t = resource.table
        found = connection.execute(select(t).where(t.c[resource.key] == object_id)).first()
        if found is None:
            raise NotFound(f"no {resource.singular} {object_id!r}")
        return _row(found)

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as connection:
            return {
                name: int(connection.execute(select(func.count()).select_from(r.table)).scalar_one())
                for name, r in RESOURCES.items()
            }

    def history(
        self, resource: str | None = None, object_id: str | None = None, limit: int = 50, offset: int = 0
    ) -> Page:
        a = schema.audit_log
        where = []
        if resource:
            where.append(a.c.resource == resource)
        if object_id:
            where.append(a.c.object_id == object_id)
        with self.engine.connect() as connection:
            total = connection.execute(select(func.count()).select_from(a).where(*where)).scalar_one()
            rows = connection.execute(
                select(a).where(*where).order_by(a.c.audit_id.desc()).limit(limit).offset(offset)
            )
            out = []
            for r in rows:
                row = _row(r)
                row["before"] = json.loads(row["before"]) if row["before"] else None
                row["after"] = json.loads(row["after"]) if row["after"] else None
                out.append(row)
        return Page(out, int(total), limit, offset)

    # -- write -------------------------------------------------------------------------------------------------
    def create(self, resource: Resource, data: Mapping[str, Any], actor: str) -> dict[str, Any]:
        row = {f: data.get(f) for f in resource.create_fields}
        if resource.name == "technicians":  # a new technician is active unless said otherwise
            row["active"] = True if data.get("active") in (None, "") else data.get("active")
        with self.engine.begin() as connection:
            typed = self._validate(connection, resource, row)
            if resource.name == "sensors":
                self._check_overlap(connection, typed, ignore=None)
            t = resource.table
            key = typed[resource.key]
            if connection.execute(select(t.c[resource.key]).where(t.c[resource.key] == key)).first():
                raise Conflict(f"{resource.singular} {key!r} already exists")
            try:
                connection.execute(insert(t).values(**typed, version=1))
            except IntegrityError as exc:
                raise Conflict(f"{resource.singular} {key!r} cannot be created: {exc.orig}") from exc
            after = self._get(connection, resource, key)
            self._audit(connection, actor, "create", resource, key, None, after)
        return after

    def update(
        self,
        resource: Resource,
        object_id: str,
        changes: Mapping[str, Any],
        version: int,
        actor: str,
        effective_from: datetime | None = None,
        new_sensor_id: str | None = None,
    ) -> dict[str, Any]:
        """Apply `changes` (fields of `resource.update_fields`) to the row at `version`. For a sensor, a change
        of metric/unit/kind/scale/offset closes it at `effective_from` (default now) and returns the new
        sensor."""
        unknown = sorted(set(changes) - set(resource.update_fields))
        if unknown:
            raise Invalid([FieldProblem(c, "cannot be changed") for c in unknown])
        with self.engine.begin() as connection:
            before = self._get(connection, resource, object_id)
            self._check_version(resource, object_id, before, version)
            merged = {**before, **changes}
            typed = self._validate(connection, resource, merged)
            changed = {k: typed[k] for k in changes if typed[k] != before[k]}
            if not changed:
                return before
            if resource.name == "sensors" and any(k in SENSOR_VERSIONED for k in changed):
                return self._new_sensor_version(
                    connection, before, typed, effective_from, new_sensor_id, actor
                )
            after = self._write(connection, resource, object_id, version, changed)
            self._audit(connection, actor, "update", resource, object_id, before, after)
        return after

    def retire(
        self, resource: Resource, object_id: str, version: int, actor: str, at: datetime | None = None
    ) -> dict[str, Any]:
        """End a row: its end date (retired_at, valid_to) at `at` (default now), or `active` false."""
        at = (at or datetime.now(UTC)).astimezone(UTC)
        with self.engine.begin() as connection:
            before = self._get(connection, resource, object_id)
            self._check_version(resource, object_id, before, version)
            if resource.is_retired(before):
                raise Conflict(f"{resource.singular} {object_id!r} is already retired")
            if resource.retire_column == "active":
                values: dict[str, Any] = {"active": False}
            else:
                start = before.get("valid_from") or before.get("installed_at")
                if start is not None and at <= start:
                    column = "valid_from" if "valid_from" in before else "installed_at"
                    raise Invalid(
                        [FieldProblem(resource.retire_column, f"must be after {column} ({iso(start)})")]
                    )
                values = {resource.retire_column: at}
            after = self._write(connection, resource, object_id, version, values)
            self._audit(connection, actor, "retire", resource, object_id, before, after)
        return after

    # -- internals ---------------------------------------------------------------------------------------------
    def _validate(self, connection: Connection, resource: Resource, row: Mapping[str, Any]) -> dict[str, Any]:
        checker = Checker()
        typed = resource.rule(row, checker, connection)
        if checker.problems:
            raise Invalid(checker.problems)
        return typed

    def _check_version(
        self, resource: Resource, object_id: str, row: Mapping[str, Any], version: int
    ) -> None:
        if row["version"] != version:
            raise StaleVersion(resource.singular, object_id, version, row["version"])

    def _write(
        self,
        connection: Connection,
        resource: Resource,
        object_id: str,
        version: int,
        values: Mapping[str, Any],
    ) -> dict[str, Any]:
        t = resource.table
        done = connection.execute(
            update(t)
            .where(and_(t.c[resource.key] == object_id, t.c.version == version))
            .values(**values, version=version + 1)
        )
        if done.rowcount != 1:  # changed between our read and this write
            current = self._get(connection, resource, object_id)
            raise StaleVersion(resource.singular, object_id, version, current["version"])
        return self._get(connection, resource, object_id)

    def _check_overlap(self, connection: Connection, sensor: Mapping[str, Any], ignore: str | None) -> None:
        t = schema.sensors
        others = connection.execute(
            select(t).where(
                t.c.device_id == sensor["device_id"],
                t.c.channel == sensor["channel"],
                t.c.sensor_id != (ignore or ""),
                t.c.sensor_id != sensor["sensor_id"],
            )
        )
        for other in map(_row, others):
            if validation.windows_overlap(
                sensor["valid_from"], sensor["valid_to"], other["valid_from"], other["valid_to"]
            ):
                message = validation.overlap_message(
                    sensor["sensor_id"], other["sensor_id"], sensor["device_id"], sensor["channel"]
                )
                raise Invalid([FieldProblem("valid_from", message)])

    def _new_sensor_version(
        self,
        connection: Connection,
        before: dict[str, Any],
        typed: dict[str, Any],
        effective_from: datetime | None,
        new_sensor_id: str | None,
        actor: str,
    ) -> dict[str, Any]:
        sensors = RESOURCES["sensors"]
        start = (effective_from or datetime.now(UTC)).astimezone(UTC)
        old_id = before["sensor_id"]
        if start <= before["valid_from"]:
            raise Invalid(
                [FieldProblem("effective_from", f"must be after valid_from ({iso(before['valid_from'])})")]
            )
        if before["valid_to"] is not None and start >= before["valid_to"]:
            raise Invalid(
                [FieldProblem("effective_from", f"must be before valid_to ({iso(before['valid_to'])})")]
            )
        new_id = (new_sensor_id or "").strip() or f"{old_id}@{start.strftime('%Y%m%dT%H%M%S')}"
        if connection.execute(
            select(schema.sensors.c.sensor_id).where(schema.sensors.c.sensor_id == new_id)
        ).first():
            raise Conflict(f"sensor {new_id!r} already exists")
        closed = self._write(connection, sensors, old_id, before["version"], {"valid_to": start})
        self._audit(connection, actor, "version", sensors, old_id, before, closed)
        new = {**typed, "sensor_id": new_id, "valid_from": start, "valid_to": before["valid_to"]}
        connection.execute(insert(schema.sensors).values(**new, version=1))
        created = self._get(connection, sensors, new_id)
        self._audit(connection, actor, "create", sensors, new_id, None, created)
        # the sensor's own thresholds follow it to the new version
        th = schema.thresholds
        for row in map(
            _row, connection.execute(select(th).where(th.c.sensor_id == old_id, th.c.retired_at.is_(None)))
        ):
            copy = {**row, "sensor_id": new_id, "version": 1}
            copy["threshold_id"] = schema.threshold_id(new_id, row["metric"], row["severity"])
            connection.execute(insert(th).values(**copy))
            self._audit(
                connection, actor, "create", RESOURCES["thresholds"], copy["threshold_id"], None, copy
            )
        return created

    def _audit(
        self,
        connection: Connection,
        actor: str,
        action: str,
        resource: Resource,
        object_id: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        connection.execute(
            insert(schema.audit_log).values(
                at=datetime.now(UTC),
                actor=actor,
                action=action,
                resource=resource.name,
                object_id=str(object_id),
                before=None if before is None else json_row(before),
                after=None if after is None else json_row(after),
            )
        )
