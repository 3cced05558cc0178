"""A sample work-order landing (contract v1), over the companies, sites and devices of a sensor catalog.

`generate_workorders(out, ...)` reads `out/catalog/{companies,sites,devices}.csv` (written by
`wenulake landing generate`) and writes:
- `out/landing/workorders/YYYY/MM/DD/HH/workorders-1-...[.gz]`: SNS notification envelopes (as SNS writes
  them) or raw-delivery events, newline-separated or concatenated, gzip or plain, grouped per 5-minute Firehose
  buffer of arrival time, with late (1-3 h) and out-of-order delivery and SNS re-deliveries (duplicates);
- `technicians.csv` and `materials.csv` beside the sensor catalog (in `catalog/` and `catalog-complete/`);
- `out/workorders-manifest.json`: the accounting the pipeline must produce (total and per arrival hour), from the
  generator's own labels; `out/truth/work_orders.csv`: every order as `fact_work_order` must show it.

Faults, each labelled here: malformed events (truncated JSON, an envelope whose Message is not JSON, a missing
order_id, a bad timestamp), unknown event types, events of orders never created (unknown_order), an
order.created delivered after the order's completion (resolves once it lands), invalid transitions (completed
after cancelled, a second order.created), and one corrupt object.
"""

from __future__ import annotations

import base64
import csv
import gzip
import json
import random
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from wenulake.contracts import Reason
from wenulake.contracts.workorders import WORKORDERS_STREAM, EventType, OrderStatus
from wenulake.errors import WenulakeError
from wenulake.landing import hour_prefix
from wenulake.timeutil import HOUR, floor_hour, iso

TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:wenulake-workorders"
SLA_HOURS = {"urgent": 4.0, "high": 8.0, "normal": 24.0, "low": 72.0}
PRIORITY_WEIGHTS = (("urgent", 1), ("high", 2), ("normal", 5), ("low", 2))
MATERIALS = (
    ("M-001", "CO2 sensor cartridge", "pcs"),
    ("M-002", "Temperature probe", "pcs"),
    ("M-003", "Humidity sensor", "pcs"),
    ("M-004", "Power meter CT clamp", "pcs"),
    ("M-005", "Shielded cable", "m"),
    ("M-006", "Battery pack 3.6 V", "pcs"),
    ("M-007", "Thermal paste", "g"),
)
CONTRACTORS = ("wenulake field services", "Acme Building Tech", "Norte Mantenimiento")
BUFFER_MINUTES = 5


@dataclass
class Copy:
    """One landed record piece."""

    text: str
    arrival: datetime
    event_id: str | None  # None for a piece that is not a well-formed event
    label: str  # applied | unknown_order | invalid_transition | malformed_event | unknown_event_type
    duplicate: bool = False


@dataclass
class Order:
    order_id: str
    client_id: str
    site_id: str
    device_id: str | None
    priority: str
    source: str
    events: list[dict[str, Any]] = field(default_factory=list)


def _ms(at: datetime) -> datetime:
    return at.replace(microsecond=(at.microsecond // 1000) * 1000)


def _iso_ms(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


class WorkOrderGenerator:
    def __init__(
        self, out: Path, orders: int, hours: int, start: datetime, seed: int, fault_rate: float
    ) -> None:
        self.out = out
        self.n_orders = orders
        self.hours = hours
        self.start = start
        self.end = start + hours * HOUR
        self.rng = random.Random(seed)
        self.fault_rate = fault_rate
        self.copies: list[Copy] = []
        self.truth: list[dict[str, Any]] = []
        self._read_catalog(out / "catalog")

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _read_catalog(self, folder: Path) -> None:
        def rows(name: str) -> list[dict[str, str]]:
            path = folder / f"{name}.csv"
            if not path.exists():
                raise WenulakeError(
                    f"{path} not found: generate the sensor sample first (wenulake landing generate --out "
                    f"{self.out}); work orders are generated over its companies and sites"
                )
            with open(path, newline="", encoding="utf-8-sig") as fh:
                return list(csv.DictReader(fh))

        self.sites = [(r["site_id"], r["company_id"]) for r in rows("sites")]
        self.devices_of: dict[str, list[str]] = defaultdict(list)
        for r in rows("devices"):
            self.devices_of[r["site_id"]].append(r["device_id"])
        if not self.sites:
            raise WenulakeError(f"{folder}/sites.csv has no sites: nothing to open work orders for")
        self.technicians = [f"T-{i:03d}" for i in range(1, 9)]

    # -- events --------------------------------------------------------------------------------------------
    def _event(self, order: Order, kind: EventType, at: datetime, **fields: Any) -> dict[str, Any]:
        event = {
            "event_id": self._uuid(),
            "event_type": kind.value,
            "schema_version": "1",
            "occurred_at": _iso_ms(at),
            "order_id": order.order_id,
            **fields,
        }
        return event

    def _delay(self) -> timedelta:
        """Publish -> Firehose buffer -> S3: seconds to minutes; 3% of events 1-3 hours late."""
        if self.rng.random() < 0.03:
            return timedelta(seconds=self.rng.randrange(3600, 3 * 3600))
        return timedelta(seconds=self.rng.randrange(2, 400))

    def _flow(self, order: Order, created: datetime, cancel: bool) -> list[tuple[dict[str, Any], datetime]]:
        """The order's events with their occurred_at: created -> assigned (sometimes twice) -> started ->
        completed, or cancelled on the way."""
        rng = self.rng
        t = created
        description = rng.choice(
            ("CO2 reading stuck", "Sensor offline", "Meter shows reset", "Replace battery", "Calibrate probe")
        )
        events = [
            (
                self._event(
                    order,
                    EventType.CREATED,
                    t,
                    client_id=order.client_id,
                    site_id=order.site_id,
                    **({"device_id": order.device_id} if order.device_id else {}),
                    source=order.source,
                    priority=order.priority,
                    sla_hours=SLA_HOURS[order.priority],
                    description=description,
                ),
                t,
            )
        ]
        cancel_after = rng.randrange(1, 4) if cancel else 99
        steps = ["assigned"] + (["assigned"] if rng.random() < 0.1 else []) + ["started", "completed"]
        technician = rng.choice(self.technicians)
        for i, step in enumerate(steps, start=1):
            if i == cancel_after:
                t = _ms(t + timedelta(minutes=rng.uniform(2, 90)))
                reason = rng.choice(("duplicate request", "client cancelled", "resolved remotely"))
                events.append((self._event(order, EventType.CANCELLED, t, reason=reason), t))
                return events
            if step == "assigned":
                t = _ms(t + timedelta(minutes=rng.uniform(3, 90)))
                technician = rng.choice(self.technicians)
                events.append((self._event(order, EventType.ASSIGNED, t, technician_id=technician), t))
            elif step == "started":
                t = _ms(t + timedelta(minutes=rng.uniform(10, 180)))
                extra = {"lat": round(rng.uniform(-40, 50), 5), "lon": round(rng.uniform(-80, 140), 5)}
                events.append(
                    (self._event(order, EventType.STARTED, t, technician_id=technician, **extra), t)
                )
            else:
                t = _ms(t + timedelta(minutes=rng.uniform(15, 240)))
                materials = [
                    {"material_id": m[0], "quantity": rng.choice((1, 1, 2, 3, 0.5))}
                    for m in rng.sample(MATERIALS, rng.randrange(0, 3))
                ]
                evidence = [
                    {
                        "uri": f"s3://wenulake-evidence/{order.order_id}/{k}.jpg",
                        "sha256": f"{rng.getrandbits(256):064x}",
                    }
                    for k in range(rng.randrange(1, 4))
                ]
                events.append(
                    (
                        self._event(
                            order,
                            EventType.COMPLETED,
                            t,
                            resolution=rng.choice(("replaced sensor", "recalibrated", "rebooted gateway")),
                            materials=materials,
                            evidence=evidence,
                            technician_id=technician,
                        ),
                        t,
                    )
                )
        return events

    def _envelope(self, event: dict[str, Any], published: datetime) -> str:
        message_id = self._uuid()
        envelope = {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": TOPIC_ARN,
            "Subject": event.get("event_type") if isinstance(event.get("event_type"), str) else None,
            "Message": json.dumps(event, separators=(",", ":")),
            "Timestamp": _iso_ms(published),
            "SignatureVersion": "1",
            "Signature": base64.b64encode(self.rng.randbytes(64)).decode(),
            "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-"
            f"{self.rng.getrandbits(128):032x}.pem",
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn="
            f"{TOPIC_ARN}:{self._uuid()}",
            "MessageAttributes": {"event_type": {"Type": "String", "Value": str(event.get("event_type"))}},
        }
        if envelope["Subject"] is None:
            del envelope["Subject"]
        return json.dumps(envelope, separators=(",", ":"))

    def _record(self, event: dict[str, Any], published: datetime) -> str:
        """Both deliveries: the SNS envelope (most subscriptions) or raw message delivery."""
        if self.rng.random() < 0.6:
            return self._envelope(event, published)
        return json.dumps(event, separators=(",", ":"))

    def _land(self, event: dict[str, Any], at: datetime, label: str, arrival: datetime | None = None) -> bool:
        """Land one event (and maybe an SNS re-delivery of it); False when it would arrive after the range."""
        arrival = arrival or at + self._delay()
        if arrival >= self.end:
            return False
        text = self._record(event, at + timedelta(milliseconds=self.rng.randrange(5, 900)))
        self.copies.append(Copy(text, arrival, event["event_id"], label))
        if self.rng.random() < 2 * self.fault_rate:  # SNS is at-least-once: the same notification again
            again = arrival + timedelta(seconds=self.rng.randrange(30, 600))
            if again < self.end:
                self.copies.append(Copy(text, again, event["event_id"], label, duplicate=True))
        return True

    def emit(self) -> None:
        rng = self.rng
        span = (self.end - self.start).total_seconds()
        # fates drawn up front, so every fault is present in every sample (at least once)
        indices = list(range(self.n_orders))
        rng.shuffle(indices)
        k = max(1, round(self.n_orders * self.fault_rate))
        orphans = set(indices[:k])
        late_created = set(indices[k : 3 * k])
        cancelled = set(indices[3 * k : 3 * k + max(1, round(self.n_orders * 0.08))])
        for n in range(self.n_orders):
            site_id, company_id = rng.choice(self.sites)
            devices = self.devices_of.get(site_id) or []
            order = Order(
                order_id=f"WO-{self.start:%Y%m%d}-{n:05d}",
                client_id=company_id,
                site_id=site_id,
                device_id=rng.choice(devices) if devices and rng.random() < 0.7 else None,
                priority=rng.choices([p for p, _ in PRIORITY_WEIGHTS], [w for _, w in PRIORITY_WEIGHTS])[0],
                source="client" if rng.random() < 0.7 else "backoffice",
            )
            faulty = n in orphans or n in late_created
            created = _ms(self.start + timedelta(seconds=rng.uniform(0, span * (0.4 if faulty else 0.85))))
            cancel = n in cancelled
            flow = self._flow(order, created, cancel)
            orphan = n in orphans
            landed: list[tuple[dict[str, Any], datetime, datetime]] = []
            for event, at in flow:
                arrival = at + self._delay()
                if arrival >= self.end:
                    break  # still in flight when the range ends: this and the rest are not landed yet
                landed.append((event, at, arrival))
            if not landed:
                continue
            if orphan:  # its order.created never reaches the lake: the rest wait as unknown_order
                for event, at, arrival in landed[1:]:
                    self._land(event, at, Reason.UNKNOWN_ORDER.value, arrival)
                continue
            if n in late_created and len(landed) > 1:  # created lands after everything else, then resolves
                last = max(a for _, _, a in landed)
                delayed = last + timedelta(minutes=rng.uniform(20, 90))
                if delayed < self.end:
                    first = landed[0]
                    landed[0] = (first[0], first[1], delayed)
            for event, at, arrival in landed:
                self._land(event, at, "applied", arrival)
            self._truth(order, [(e, a) for e, a, _ in landed])
            last_at = landed[-1][1]
            if cancel and landed[-1][0]["event_type"] == EventType.CANCELLED and rng.random() < 0.5:
                # the technician's app still reports completion after the cancellation: invalid_transition
                at = _ms(last_at + timedelta(minutes=rng.uniform(5, 60)))
                bad = self._event(order, EventType.COMPLETED, at, resolution="done", technician_id="T-001")
                self._land(bad, at, Reason.INVALID_TRANSITION.value)
            elif rng.random() < self.fault_rate:  # a second order.created for the same order (double submit)
                at = _ms(landed[0][1] + timedelta(minutes=rng.uniform(1, 30)))
                again = dict(landed[0][0], event_id=self._uuid(), occurred_at=_iso_ms(at))
                self._land(again, at, Reason.INVALID_TRANSITION.value)
        self._faults()

    def _faults(self) -> None:
        """Pieces that are not well-formed events, or of a type contract v1 does not know."""
        rng = self.rng
        span = (self.end - self.start).total_seconds()
        n = max(1, round(len(self.copies) * self.fault_rate))
        for i in range(n):
            at = _ms(self.start + timedelta(seconds=rng.uniform(0, span * 0.95)))
            order = Order("WO-x", "c", "s", None, "normal", "client")
            good = self._event(order, EventType.ASSIGNED, at, technician_id="T-001")
            kind = i % 5
            if kind == 0:
                text = self._envelope(good, at)
                text = text[: len(text) // 2]  # truncated in transit
            elif kind == 1:
                text = json.loads(self._envelope(good, at))
                text["Message"] = "this is not JSON"
                text = json.dumps(text, separators=(",", ":"))
            elif kind == 2:
                del good["order_id"]
                text = json.dumps(good, separators=(",", ":"))
            elif kind == 3:
                good["occurred_at"] = "yesterday at noon"
                text = self._envelope(good, at)
            else:
                good["event_type"] = "order.escalated"
                self.copies.append(
                    Copy(self._record(good, at), at + self._delay(), None, Reason.UNKNOWN_EVENT_TYPE.value)
                )
                continue
            self.copies.append(Copy(text, at + self._delay(), None, Reason.MALFORMED_EVENT.value))
        self.copies = [c for c in self.copies if c.arrival < self.end]

    def _truth(self, order: Order, landed: list[tuple[dict[str, Any], datetime]]) -> None:
        """The order as fact_work_order must show it, from the generator's own flow."""
        by_type: dict[str, list[tuple[dict[str, Any], datetime]]] = defaultdict(list)
        for event, at in landed:
            by_type[event["event_type"]].append((event, at))
        created = landed[0][1]
        last_type = landed[-1][0]["event_type"]
        status = {
            EventType.CREATED: OrderStatus.CREATED,
            EventType.ASSIGNED: OrderStatus.ASSIGNED,
            EventType.STARTED: OrderStatus.IN_PROGRESS,
            EventType.COMPLETED: OrderStatus.COMPLETED,
            EventType.CANCELLED: OrderStatus.CANCELLED,
        }[EventType(last_type)]
        assigned = by_type[EventType.ASSIGNED][0][1] if by_type[EventType.ASSIGNED] else None
        completed = by_type[EventType.COMPLETED][0][1] if by_type[EventType.COMPLETED] else None
        technician = None
        for event, _ in landed:
            technician = event.get("technician_id") or technician
        due = created + timedelta(hours=SLA_HOURS[order.priority])
        self.truth.append(
            {
                "order_id": order.order_id,
                "status": status.value,
                "client_id": order.client_id,
                "site_id": order.site_id,
                "created_at": iso(created),
                "assigned_at": iso(assigned) if assigned else "",
                "completed_at": iso(completed) if completed else "",
                "technician_id": technician or "",
                "sla_met": "" if completed is None else str(completed <= due).lower(),
                "events": len(landed),
            }
        )

    # -- files ---------------------------------------------------------------------------------------------
    def write(self) -> dict[str, Any]:
        self.emit()
        landing = self.out / "landing"
        buffers: dict[datetime, list[Copy]] = defaultdict(list)
        for copy in sorted(self.copies, key=lambda c: c.arrival):
            minute = copy.arrival.replace(second=0, microsecond=0)
            buffers[minute - timedelta(minutes=minute.minute % BUFFER_MINUTES)].append(copy)
        objects: Counter[datetime] = Counter()
        placed: list[tuple[datetime, str, int, Copy]] = []
        for window, copies in sorted(buffers.items()):
            sep = "\n" if self.rng.random() < 0.5 else ""
            body = (sep.join(c.text for c in copies) + sep).encode()
            key = self._put(landing, window, body, gz=self.rng.random() < 0.6)
            objects[floor_hour(window)] += 1
            placed += [(floor_hour(window), key, i, c) for i, c in enumerate(copies)]
        corrupt_hour = self.start + (self.hours // 2) * HOUR
        body = gzip.compress("\n".join(c.text for c in self.copies[:20]).encode(), mtime=0)
        self._put(landing, corrupt_hour + timedelta(minutes=33), body[: len(body) // 2], gz=True, raw=True)
        objects[corrupt_hour] += 1
        for folder in ("catalog", "catalog-complete"):
            if (self.out / folder).is_dir():
                self._write_catalog(self.out / folder)
        manifest = self._manifest(objects, corrupt_hour, placed)
        (self.out / "workorders-manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        truth = self.out / "truth"
        truth.mkdir(parents=True, exist_ok=True)
        with open(truth / "work_orders.csv", "w", newline="") as fh:
            columns = list(self.truth[0]) if self.truth else ["order_id"]
            writer = csv.DictWriter(fh, columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(sorted(self.truth, key=lambda r: r["order_id"]))
        return manifest

    def _put(self, landing: Path, window: datetime, body: bytes, gz: bool, raw: bool = False) -> str:
        name = f"{WORKORDERS_STREAM}-1-{window:%Y-%m-%d-%H-%M-%S}-{self._uuid()}" + (".gz" if gz else "")
        key = hour_prefix(WORKORDERS_STREAM, floor_hour(window)) + name
        path = landing / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body if raw or not gz else gzip.compress(body, mtime=0))
        return key

    def _write_catalog(self, folder: Path) -> None:
        with open(folder / "technicians.csv", "w", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["technician_id", "name", "company", "active"])
            names = ("Ana Rojas", "Ben Okafor", "Chen Wei", "Dana Levi", "Eva Novak", "Femi Adeyemi",
                     "Gil Moreau", "Hana Sato", "Ivo Petrov")  # fmt: skip
            for i, tid in enumerate(self.technicians):
                writer.writerow([tid, names[i % len(names)], CONTRACTORS[i % len(CONTRACTORS)], "true"])
            writer.writerow(["T-099", "Retired Technician", CONTRACTORS[0], "false"])
        with open(folder / "materials.csv", "w", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["material_id", "name", "unit"])
            writer.writerows(MATERIALS)

    def _manifest(
        self,
        objects: Counter[datetime],
        corrupt_hour: datetime,
        placed: list[tuple[datetime, str, int, Copy]],
    ) -> dict[str, Any]:
        """The accounting, per arrival hour of each distinct event's winning (earliest landed) copy."""
        keys = ("objects", "corrupt_objects", "records", "duplicates", "events_valid", "q_malformed_event",
                "q_unknown_event_type", "q_unknown_order", "q_invalid_transition")  # fmt: skip
        by_hour: dict[datetime, Counter[str]] = defaultdict(Counter)
        for hour, count in objects.items():
            by_hour[hour]["objects"] += count
        by_hour[corrupt_hour]["corrupt_objects"] += 1
        seen: set[str] = set()
        for hour, _key, _index, copy in sorted(placed, key=lambda p: (p[0], p[1], p[2])):
            counts = by_hour[hour]
            counts["records"] += 1
            if copy.event_id is None:
                counts[f"q_{copy.label}"] += 1
            elif copy.event_id in seen:
                counts["duplicates"] += 1
            else:
                seen.add(copy.event_id)
                counts["events_valid" if copy.label == "applied" else f"q_{copy.label}"] += 1
        hours = [self.start + i * HOUR for i in range(self.hours)]
        total = Counter[str]()
        for counts in by_hour.values():
            total.update(counts)
        return {
            "contract": "workorders-v1",
            "start": iso(self.start),
            "hours": self.hours,
            "arrival_start": iso(self.start),
            "arrival_end": iso(self.end),
            "orders": len(self.truth),
            "expected": {k: total.get(k, 0) for k in keys},
            "by_hour": {iso(h): {k: by_hour[h].get(k, 0) for k in keys} for h in hours},
        }


def generate_workorders(
    out: Path,
    orders: int = 200,
    hours: int = 6,
    start: datetime | None = None,
    seed: int = 42,
    fault_rate: float = 0.02,
) -> dict[str, Any]:
    start = start or datetime(2026, 4, 4, 0, tzinfo=UTC)
    return WorkOrderGenerator(out, orders, hours, start, seed, fault_rate).write()
