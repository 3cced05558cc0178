"""Sample Firehose landing generator (contract v1), with every fault of the contract and its ground truth.

`generate(out, ...)` writes:
- `out/landing/sensors/YYYY/MM/DD/HH/sensors-1-...[.gz]`: encrypted records, gzip or plain, newline-separated or
  concatenated, grouped per 5-minute Firehose buffer of arrival time;
- `out/catalog/*.csv`: the business catalog of contract v1;
- `out/keyring.json`: keyring v2 by default, one key per device bound to it (devices missing from the catalog
  included) and one retired key per device (`retired_at` a day before the first message);
- `out/manifest.json`: what was written and the accounting it must produce (totals and per arrival hour).

Records are message format v2 by default (`"v": 2`, key and message ids authenticated); `message_format=1`
writes v1 records and a v1 keyring (no device binding, no key_device_mismatch faults).

Faults: malformed records (truncated, missing field, not base64, bad received_at, garbage), unknown keys (a
retired key's id), keys of another device (key_device_mismatch: a forgery with a leaked key), tampered payloads,
implausible timestamps, devices with keys but no catalog entry, unknown channels, null
readings, duplicates arriving minutes later, late messages (ts 1-3 h before arrival), counter resets, a sensor
replaced mid-run and one corrupt object. Everything is derived from `seed`: same arguments, same bytes.
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import io
import json
import math
import random
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from wenulake.catalog.schema import CSV_COLUMNS
from wenulake.contracts import Reason
from wenulake.crypto import MESSAGE_FORMATS, encrypt
from wenulake.landing import RECORD_START, SENSORS_STREAM, hour_prefix
from wenulake.timeutil import EPOCH, HOUR, floor_hour, iso

TIMEZONES = ("Europe/Madrid", "America/Santiago", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "UTC")
MAX_RECORDS_PER_OBJECT = 5000
UNKNOWN_CHANNEL = "dbg"
LATE_RATE = 0.01

#: channel -> (metric, raw units it may be reported in, kind)
CHANNELS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "temp": ("temperature", ("C", "F", "K"), "gauge"),
    "rh": ("humidity", ("%",), "gauge"),
    "co2": ("co2", ("ppm",), "gauge"),
    "p": ("power", ("W", "kW"), "gauge"),
    "e": ("energy", ("kWh", "Wh"), "counter"),
}
DEVICE_TYPES = {"env": ("temp", "rh", "co2"), "meter": ("p", "e")}
DEFAULT_THRESHOLDS = (
    ("temperature", 5.0, 30.0, "warning"),
    ("humidity", 20.0, 70.0, "warning"),
    ("co2", None, 1000.0, "critical"),
    ("power", None, 9000.0, "warning"),
)


@dataclass
class Sensor:
    sensor_id: str
    channel: str
    metric: str
    unit: str
    kind: str
    scale: float
    offset: float
    valid_from: datetime
    valid_to: datetime | None = None


@dataclass
class Episode:
    """An injected alarm episode: the readings of `channel` (or, for a gap, every message) misbehave in
    [start, end). `observed_*` are the ts of the readings that open and close it, as sent."""

    rule: str  # threshold | flatline | gap
    channel: str | None
    start: datetime
    end: datetime
    observed_start: datetime | None = None
    observed_end: datetime | None = None
    flat_raw: float | None = None
    sensor_id: str | None = None


@dataclass
class Device:
    device_id: str
    site_id: str | None  # None: has a key, sends, but is missing from the catalog
    kind: str
    key_id: str
    key: bytes
    phase: float
    sensors: list[Sensor] = field(default_factory=list)
    seq: int = 0
    energy_kwh: float = 0.0
    reset_at: datetime | None = None
    episodes: list[Episode] = field(default_factory=list)
    spikes: set[datetime] = field(default_factory=set)
    spike_labels: list[tuple[str, datetime]] = field(default_factory=list)
    last_sent: datetime | None = None
    reset_seen: tuple[str, datetime] | None = None


@dataclass
class Piece:
    """One record piece as landed, with the outcome the pipeline must give it."""

    text: str
    received_at: datetime
    reason: Reason | None = None  # None: a valid message
    device_id: str | None = None
    message_id: str | None = None
    nulls: int = 0
    unknown_channels: int = 0
    readings: int = 0
    ts: datetime | None = None
    #: the stored readings this message must give if it wins: (sensor, raw value), nulls left out
    values: list[tuple[Sensor, float]] = field(default_factory=list)
    #: landed right after a broken piece with no separator, and not starting a record: no parser can tell where
    #: the broken piece ends, so the landing holds one malformed record for both (counted with the one before)
    absorbed: bool = False


def _broken(piece: Piece) -> bool:
    """A malformed piece that is not one whole JSON value (truncated, or noise)."""
    if piece.reason is not Reason.MALFORMED_RECORD:
        return False
    try:
        json.loads(piece.text)
    except ValueError:
        return True
    return False


def mark_absorbed(chunk: list[Piece]) -> None:
    """In a concatenated object (no separator), a piece that does not begin a record (`{"message_id"`) continues
    the broken piece before it: set `absorbed` on it, so the manifest counts the records a parser can see."""
    previous_broken = False
    for piece in chunk:
        piece.absorbed = previous_broken and not piece.text.startswith(RECORD_START)
        previous_broken = piece.absorbed or _broken(piece)


def _raw_value(channel: str, unit: str, when: datetime, dev: Device, rng: random.Random) -> float:
    hour = when.hour + when.minute / 60
    daily = math.sin(2 * math.pi * (hour - 9) / 24 + dev.phase)
    if channel == "temp":
        celsius = 21 + 3 * daily + rng.gauss(0, 0.2)
        return {"C": celsius, "F": celsius * 9 / 5 + 32, "K": celsius + 273.15}[unit]
    if channel == "rh":
        return max(0.0, min(100.0, 45 + 10 * daily + rng.gauss(0, 1)))
    if channel == "co2":
        return max(380.0, 560 + 140 * daily + rng.gauss(0, 20))
    if channel == "p":
        watts = max(0.0, 2500 + 1500 * daily + rng.gauss(0, 100))
        return watts / 1000 if unit == "kW" else watts
    # energy counter, monotonic, reset once for some meters
    if dev.reset_at is not None and when >= dev.reset_at:
        dev.energy_kwh, dev.reset_at = 0.0, None
        dev.reset_seen = ("e", when)
    dev.energy_kwh += max(0.0, 2.5 + 1.5 * daily) / 60
    return dev.energy_kwh * 1000 if unit == "Wh" else dev.energy_kwh


class Generator:
    def __init__(
        self,
        out: Path,
        devices: int,
        hours: int,
        start: datetime,
        seed: int,
        fault_rate: float,
        message_format: int = 2,
    ) -> None:
        if devices < 1 or hours < 1:
            raise ValueError("--devices and --hours must be at least 1")
        if message_format not in MESSAGE_FORMATS:
            raise ValueError("--message-format must be 1 or 2")
        self.message_format = message_format
        if not 0 <= fault_rate <= 0.1:
            raise ValueError("--fault-rate must be between 0 and 0.1")
        self.out = out
        self.n_devices = devices
        self.hours = hours
        self.start = floor_hour(start)
        self.end = self.start + hours * HOUR
        self.rng = random.Random(seed)
        self.seed = seed
        self.fault_rate = fault_rate
        self.devices: list[Device] = []
        self.pieces: list[Piece] = []
        self.companies: list[tuple[str, str]] = []
        self.sites: list[tuple[str, str, str, str]] = []

    # -- catalog -------------------------------------------------------------------------------------------
    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def build_catalog(self) -> None:
        rng = self.rng
        n_companies = max(1, min(5, self.n_devices // 8 + 1))
        self.companies = [(f"c{i:03d}", f"Company {i:03d}") for i in range(1, n_companies + 1)]
        n_sites = max(1, self.n_devices // 4)
        for i in range(1, n_sites + 1):
            company = self.companies[(i - 1) % n_companies][0]
            tz = TIMEZONES[(i - 1) % len(TIMEZONES)]
            self.sites.append((f"s{i:04d}", company, f"Site {i:04d}", tz))
        installed = self.start - timedelta(days=30)
        mid = self.start + (self.end - self.start) / 2
        uncatalogued = max(1, self.n_devices // 20)
        for i in range(1, self.n_devices + uncatalogued + 1):
            catalogued = i <= self.n_devices
            kind = "env" if i % 3 else "meter"
            dev = Device(
                device_id=f"dev-{i:05d}" if catalogued else f"ghost-{i:05d}",
                site_id=self.sites[(i - 1) % n_sites][0] if catalogued else None,
                kind=kind,
                key_id=f"k{i:05d}",
                key=rng.randbytes(32),
                phase=rng.uniform(-0.5, 0.5),
            )
            for channel in DEVICE_TYPES[kind]:
                metric, units, skind = CHANNELS[channel]
                calibrated = rng.random() < 0.2
                dev.sensors.append(
                    Sensor(
                        sensor_id=f"{dev.device_id}-{channel}-1",
                        channel=channel,
                        metric=metric,
                        unit=rng.choice(units),
                        kind=skind,
                        scale=round(rng.uniform(0.98, 1.02), 4) if calibrated else 1.0,
                        offset=round(rng.uniform(-0.5, 0.5), 3) if calibrated and skind == "gauge" else 0.0,
                        valid_from=installed,
                    )
                )
            if kind == "meter" and rng.random() < 0.5:
                dev.reset_at = self.start + timedelta(minutes=rng.randrange(30, 60 * self.hours))
            self.devices.append(dev)
        self._plan_episodes()
        # one sensor replaced mid-run: same device and channel, new id, new calibration
        first = self.devices[0].sensors[0]
        first.valid_to = mid
        self.devices[0].sensors.insert(
            1,
            Sensor(
                sensor_id=f"{self.devices[0].device_id}-{first.channel}-2",
                channel=first.channel,
                metric=first.metric,
                unit=first.unit,
                kind=first.kind,
                scale=1.0,
                offset=0.1,
                valid_from=mid,
            ),
        )

    def _plan_episodes(self) -> None:
        """Alarm episodes with known truth, from an RNG of their own: threshold (co2 at 1200 ppm for 20-40 min),
        flatline (temperature stuck for 70-90 min), gap (a device silent for 35-50 min) and single-reading
        spikes (labelled anomalies). Device 1 (whose sensor is replaced mid-run) gets none."""
        rng = random.Random(self.seed * 7919 + 17)
        span = int((self.end - self.start).total_seconds() // 60)
        for i, dev in enumerate(self.devices[1:], start=2):
            if dev.site_id is None:
                continue

            def window(lo: int, hi: int) -> tuple[datetime, datetime] | None:
                length = rng.randrange(lo, hi + 1)
                if span < length + 40:
                    return None
                begin = rng.randrange(20, span - length - 15)
                return self.start + timedelta(minutes=begin), self.start + timedelta(minutes=begin + length)

            if dev.kind == "env" and i % 4 == 2 and (w := window(20, 40)):
                dev.episodes.append(Episode("threshold", "co2", *w))
            elif dev.kind == "env" and i % 4 == 3 and (w := window(70, 90)):
                dev.episodes.append(Episode("flatline", "temp", *w))
            elif i % 5 == 0 and (w := window(35, 50)):
                dev.episodes.append(Episode("gap", None, *w))
            else:
                for _ in range(max(1, span // 120)):
                    dev.spikes.add(self.start + timedelta(minutes=rng.randrange(45, max(46, span - 5))))

    def _episode_values(
        self, dev: Device, t: datetime, readings: dict[str, Any], valid: dict[str, Any]
    ) -> None:
        """Apply the device's injected episodes and spikes to one message's raw readings."""
        minute = t.replace(second=0, microsecond=0)
        for ep in dev.episodes:
            if ep.channel is None or ep.channel not in readings:
                continue
            inside = ep.start <= t < ep.end
            if inside:
                if ep.observed_start is None:
                    ep.observed_start, ep.sensor_id = t, valid[ep.channel].sensor_id
                if ep.rule == "threshold":
                    readings[ep.channel] = round(1200 + 40 * math.sin(minute.minute / 3), 4)
                elif ep.rule == "flatline":
                    if ep.flat_raw is None:
                        ep.flat_raw = readings[ep.channel]
                    readings[ep.channel] = ep.flat_raw
            elif t >= ep.end and ep.observed_start is not None and ep.observed_end is None:
                ep.observed_end = t
        if minute in dev.spikes:
            channel = "temp" if "temp" in readings else "p"
            unit = valid[channel].unit
            # downward for temperature, upward for power: never across a threshold
            jump = {"C": -5.0, "F": -9.0, "K": -5.0, "W": 3000.0, "kW": 3.0}[unit]
            readings[channel] = round(readings[channel] + jump, 4)
            dev.spike_labels.append((valid[channel].sensor_id, t))

    # -- messages ------------------------------------------------------------------------------------------
    def _record(
        self,
        dev: Device,
        message_id: str,
        received: datetime,
        ts_ms: int,
        readings: dict,
        signer: Device | None = None,
    ) -> dict:
        """One record of `dev`, encrypted with the key of `signer` (default `dev` itself; another device's
        key is the key_device_mismatch fault: a forgery with a leaked key)."""
        dev.seq += 1
        signer = signer or dev
        plain = json.dumps({"ts": ts_ms, "seq": dev.seq, "readings": readings}, separators=(",", ":"))
        nonce = self.rng.randbytes(12)
        if self.message_format == 2:
            blob = encrypt(signer.key, dev.device_id, plain.encode(), nonce, signer.key_id, message_id)
        else:
            blob = encrypt(signer.key, dev.device_id, plain.encode(), nonce)
        record: dict[str, Any] = {
            "message_id": message_id,
            "device_id": dev.device_id,
            "key_id": signer.key_id,
            "received_at": iso(received.replace(microsecond=(received.microsecond // 1000) * 1000)),
            "payload": base64.b64encode(blob).decode(),
        }
        if self.message_format == 2:
            record["v"] = 2  # after message_id: parsing resumes at the next '{"message_id"'
        return record

    @staticmethod
    def _dump(record: dict) -> str:
        return json.dumps(record, separators=(",", ":"))

    def _malformed(self, record: dict) -> str:
        variant = self.rng.randrange(5)
        text = self._dump(record)
        if variant == 0:  # truncated inside the payload
            cut = text.index('"payload":"') + 12 + self.rng.randrange(8)
            return text[:cut]
        if variant == 1:  # a field missing
            return self._dump({k: v for k, v in record.items() if k != "key_id"})
        if variant == 2:
            return self._dump({**record, "payload": "not*base64!"})
        if variant == 3:
            return self._dump({**record, "received_at": "yesterday"})
        return "#@! firehose noise " + "".join(self.rng.choices("xyz0123", k=12))

    def emit_messages(self) -> None:
        rng, rate = self.rng, self.fault_rate
        step = timedelta(seconds=60)
        for dev in self.devices:
            catalogued = dev.site_id is not None
            t = self.start + timedelta(seconds=rng.randrange(60))
            gaps = [ep for ep in dev.episodes if ep.rule == "gap"]
            while t < self.end:
                silent = next((ep for ep in gaps if ep.start <= t < ep.end), None)
                if silent is not None:
                    if silent.observed_start is None:
                        silent.observed_start = dev.last_sent
                elif any(ep.observed_start is not None and ep.observed_end is None for ep in gaps):
                    for ep in gaps:
                        if ep.observed_start is not None and ep.observed_end is None:
                            ep.observed_end = t
                if silent is None:
                    self._emit_one(dev, t, catalogued, rng, rate)
                    dev.last_sent = t
                t += step

    def _emit_one(self, dev: Device, t: datetime, catalogued: bool, rng: random.Random, rate: float) -> None:
        ts_ms = (t - EPOCH) // timedelta(milliseconds=1)
        received = t + timedelta(milliseconds=rng.randrange(50, 2000))
        if rng.random() < LATE_RATE:
            received += timedelta(minutes=rng.randrange(60, 180))
        readings: dict[str, Any] = {}
        valid: dict[str, Sensor] = {}
        for sensor in dev.sensors:
            if sensor.channel not in readings and (sensor.valid_to is None or t < sensor.valid_to):
                readings[sensor.channel] = round(_raw_value(sensor.channel, sensor.unit, t, dev, rng), 4)
                valid[sensor.channel] = sensor
        self._episode_values(dev, t, readings, valid)
        nulls = unknown = 0
        if catalogued and rng.random() < rate:
            readings[rng.choice(list(readings))] = None
            nulls = 1
        values = [(valid[ch], raw) for ch, raw in readings.items() if raw is not None and ch in valid]
        if catalogued and rng.random() < rate:
            readings[UNKNOWN_CHANNEL] = round(rng.uniform(0, 10), 3)
            unknown = 1
        message_id = self._uuid()
        fault = rng.random()
        reason: Reason | None = None
        if fault < rate:
            reason = Reason.MALFORMED_RECORD
        elif fault < 2 * rate:
            reason = Reason.UNKNOWN_KEY
        elif fault < 3 * rate:
            reason = Reason.DECRYPT_FAILED
        elif fault < 4 * rate:
            reason = Reason.IMPLAUSIBLE_TIMESTAMP
            ts_ms = (
                ts_ms + 2 * 86_400_000 if rng.random() < 0.5 else int(datetime(2014, 6, 1).timestamp() * 1000)
            )
        elif fault < 5 * rate and self.message_format == 2 and len(self.devices) > 1:
            reason = Reason.KEY_DEVICE_MISMATCH
        signer = self._neighbour(dev) if reason is Reason.KEY_DEVICE_MISMATCH else None
        record = self._record(dev, message_id, received, ts_ms, readings, signer)
        if reason is Reason.UNKNOWN_KEY:
            record["key_id"] = f"retired-{dev.key_id}"
        elif reason is Reason.DECRYPT_FAILED:
            blob = bytearray(base64.b64decode(record["payload"]))
            blob[14] ^= 0x5A
            record["payload"] = base64.b64encode(bytes(blob)).decode()
        text = self._malformed(record) if reason is Reason.MALFORMED_RECORD else self._dump(record)
        piece = Piece(
            text=text,
            received_at=received,
            reason=reason,
            device_id=dev.device_id,
            message_id=message_id,
            nulls=nulls if reason is None else 0,
            unknown_channels=unknown if reason is None else 0,
            readings=len(readings) if reason is None else 0,
            ts=t.replace(microsecond=0),
            values=values if reason is None and catalogued else [],
        )
        self.pieces.append(piece)
        if reason is None and rng.random() < rate:  # a retry: the same message again, minutes later
            again = received + timedelta(seconds=rng.randrange(60, 600))
            dup = {
                **record,
                "received_at": iso(again.replace(microsecond=(again.microsecond // 1000) * 1000)),
            }
            self.pieces.append(
                Piece(self._dump(dup), again, None, dev.device_id, message_id, nulls, unknown, len(readings))
            )  # a losing copy: its readings are the winner's

    def _neighbour(self, dev: Device) -> Device:
        """The device whose leaked key forges `dev`'s messages: the next one (no draw from the random stream)."""
        index = self.devices.index(dev)
        return self.devices[(index + 1) % len(self.devices)]

    # -- objects -------------------------------------------------------------------------------------------
    def write(self) -> dict[str, Any]:
        self.build_catalog()
        self.emit_messages()
        self.out.mkdir(parents=True, exist_ok=True)
        buffers: dict[datetime, list[Piece]] = defaultdict(list)
        for piece in sorted(self.pieces, key=lambda p: p.received_at):
            minute = piece.received_at.replace(second=0, microsecond=0)
            buffers[minute - timedelta(minutes=minute.minute % 5)].append(piece)
        objects: Counter[datetime] = Counter()
        landing = self.out / "landing"
        for window, pieces in sorted(buffers.items()):
            for chunk_start in range(0, len(pieces), MAX_RECORDS_PER_OBJECT):
                chunk = pieces[chunk_start : chunk_start + MAX_RECORDS_PER_OBJECT]
                sep = "\n" if self.rng.random() < 0.5 else ""
                if not sep:
                    mark_absorbed(chunk)
                body = (sep.join(p.text for p in chunk) + sep).encode()
                gz = self.rng.random() < 0.6
                self._put(landing, window, body, gz)
                objects[floor_hour(window)] += 1
        corrupt_hour = self.start + (self.hours // 2) * HOUR
        body = gzip.compress("\n".join(p.text for p in self.pieces[:50]).encode(), mtime=0)
        self._put(landing, corrupt_hour + timedelta(minutes=31), body[: len(body) // 2], gz=True, raw=True)
        self._write_catalog(self.out / "catalog", complete=False)
        self._write_catalog(self.out / "catalog-complete", complete=True)
        self._write_keyring()
        manifest = self._manifest(objects, corrupt_hour)
        (self.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        self._write_truth(self.out / "truth")
        return manifest

    def _write_truth(self, folder: Path) -> None:
        """truth/readings.csv.gz: every reading silver must hold with the catalog as delivered (the winning
        copies of valid messages from catalogued devices, nulls and unknown channels left out), in canonical
        units, computed here from the generator's own sensors, independently of the pipeline."""
        from wenulake.units import to_canonical

        tz_of = {site_id: tz for site_id, _, _, tz in self.sites}
        site_of = {d.device_id: d.site_id for d in self.devices if d.site_id}
        winners: dict[tuple[str, str], Piece] = {}
        for piece in self.pieces:
            if piece.reason is None and piece.values:
                key = (piece.device_id or "", piece.message_id or "")
                if key not in winners or piece.received_at < winners[key].received_at:
                    winners[key] = piece
        folder.mkdir(parents=True, exist_ok=True)
        self._write_episodes(folder, winners)
        # mtime 0: the same seed gives the same bytes
        gz = gzip.GzipFile(folder / "readings.csv.gz", "wb", mtime=0)
        with gz, io.TextIOWrapper(gz, newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["sensor_id", "ts", "local_date", "value", "kind", "metric", "site_id"])
            for piece in sorted(winners.values(), key=lambda p: (p.device_id or "", p.ts or EPOCH)):
                assert piece.ts is not None
                site = site_of[piece.device_id or ""]
                local = piece.ts.astimezone(ZoneInfo(tz_of[site])).date().isoformat()
                for sensor, raw in piece.values:
                    value = to_canonical(sensor.metric, sensor.unit, raw) * sensor.scale + sensor.offset
                    writer.writerow(
                        [
                            sensor.sensor_id,
                            iso(piece.ts),
                            local,
                            repr(value),
                            sensor.kind,
                            sensor.metric,
                            site,
                        ]
                    )

    def _put(self, landing: Path, window: datetime, body: bytes, gz: bool, raw: bool = False) -> None:
        name = f"{SENSORS_STREAM}-1-{window:%Y-%m-%d-%H-%M-%S}-{self._uuid()}" + (".gz" if gz else "")
        path = landing / hour_prefix(SENSORS_STREAM, floor_hour(window)) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body if raw or not gz else gzip.compress(body, mtime=0))

    def _write_catalog(self, folder: Path, complete: bool) -> None:
        """The catalog as delivered (devices with keys but no entry left out), or `complete` (the fix an
        operator would load before replaying the enrichment quarantine)."""
        folder.mkdir(parents=True, exist_ok=True)

        def write(name: str, rows: list[tuple]) -> None:
            with open(folder / f"{name}.csv", "w", newline="") as fh:
                writer = csv.writer(fh, lineterminator="\n")
                writer.writerow(CSV_COLUMNS[name])
                writer.writerows(rows)

        def when(value: datetime | None) -> str:
            return iso(value) if value else ""

        catalogued = [d for d in self.devices if d.site_id or complete]
        site_of = {d.device_id: d.site_id or self.sites[0][0] for d in catalogued}
        write("companies", self.companies)
        write("sites", self.sites)
        write(
            "devices",
            [(d.device_id, site_of[d.device_id], when(d.sensors[0].valid_from), "", "") for d in catalogued],
        )
        write(
            "sensors",
            [
                (
                    s.sensor_id,
                    d.device_id,
                    s.channel,
                    s.metric,
                    s.unit,
                    s.kind,
                    s.scale,
                    s.offset,
                    when(s.valid_from),
                    when(s.valid_to),
                )
                for d in catalogued
                for s in d.sensors
            ],
        )
        thresholds = [
            ("", metric, lo if lo is not None else "", hi, sev) for metric, lo, hi, sev in DEFAULT_THRESHOLDS
        ]
        for dev in catalogued[:3]:
            sensor = dev.sensors[-1]
            if sensor.metric == "co2":
                thresholds.append((sensor.sensor_id, "co2", "", 800.0, "critical"))
        write("thresholds", thresholds)

    def _write_episodes(self, folder: Path, winners: dict[tuple[str, str], Piece]) -> None:
        """truth/episodes.csv: every injected alarm episode (threshold, flatline, gap, counter_reset) with the
        ts that opens and closes it; truth/anomalies.csv: the spikes (labelled anomalies) that reached silver."""
        stored = {(sensor.sensor_id, piece.ts) for piece in winners.values() for sensor, _ in piece.values}
        rows = []
        for dev in self.devices:
            if dev.site_id is None:
                continue
            for ep in dev.episodes:
                if ep.observed_start is None:
                    continue
                sensor = None if ep.rule == "gap" else ep.sensor_id
                end = iso(ep.observed_end) if ep.observed_end else ""
                rows.append([ep.rule, dev.device_id, sensor or "", iso(ep.observed_start), end])
            if dev.reset_seen is not None:
                when = dev.reset_seen[1].replace(microsecond=0)
                sensor_id = next(s.sensor_id for s in dev.sensors if s.channel == "e")
                rows.append(["counter_reset", dev.device_id, sensor_id, iso(when), iso(when)])
        with open(folder / "episodes.csv", "w", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["rule", "device_id", "sensor_id", "started_at", "ended_at"])
            writer.writerows(sorted(rows))
        with open(folder / "anomalies.csv", "w", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["sensor_id", "ts"])
            for dev in self.devices:
                for sensor_id, t in dev.spike_labels:
                    if (sensor_id, t.replace(microsecond=0)) in stored:
                        writer.writerow([sensor_id, iso(t)])

    def _write_keyring(self) -> None:
        keys: dict[str, Any]
        if self.message_format == 1:
            keys = {d.key_id: base64.b64encode(d.key).decode() for d in self.devices}
        else:  # v2: each key bound to its device; the ids of the unknown_key faults are retired keys
            retired = iso(self.start - timedelta(days=1))
            keys = {}
            for d in self.devices:
                keys[d.key_id] = {"key": base64.b64encode(d.key).decode(), "device_id": d.device_id}
                old = hashlib.sha256(f"{self.seed}/retired-{d.key_id}".encode()).digest()
                keys[f"retired-{d.key_id}"] = {
                    "key": base64.b64encode(old).decode(),
                    "device_id": d.device_id,
                    "retired_at": retired,
                }
        path = self.out / "keyring.json"
        path.write_text(json.dumps({"keys": keys}, indent=1) + "\n")
        path.chmod(0o600)

    def _manifest(self, objects: Counter[datetime], corrupt_hour: datetime) -> dict[str, Any]:
        """The accounting the pipeline must produce, derived from what was written (not from the pipeline)."""
        winners: dict[tuple[str, str], Piece] = {}
        for piece in self.pieces:
            if piece.reason is None:
                key = (piece.device_id or "", piece.message_id or "")
                if key not in winners or piece.received_at < winners[key].received_at:
                    winners[key] = piece
        catalogued = {d.device_id for d in self.devices if d.site_id}
        by_hour: dict[datetime, Counter[str]] = defaultdict(Counter)
        for hour, count in objects.items():
            by_hour[hour]["objects"] += count
        by_hour[corrupt_hour]["objects"] += 1
        by_hour[corrupt_hour]["corrupt_objects"] += 1
        for piece in self.pieces:
            if piece.absorbed:  # one malformed record with the broken piece before it
                continue
            acc = by_hour[floor_hour(piece.received_at)]
            acc["records"] += 1
            if piece.reason is not None:
                acc[f"q_{piece.reason.value}"] += 1
            elif winners[(piece.device_id or "", piece.message_id or "")] is not piece:
                acc["duplicates"] += 1
            else:
                acc["messages_valid"] += 1
                if piece.device_id in catalogued:
                    acc["attributable_messages"] += 1
                    acc["null_values"] += piece.nulls
                    acc["unknown_channel_readings"] += piece.unknown_channels
                    acc["non_null_readings"] += piece.readings - piece.nulls
                else:
                    acc["messages_uncatalogued_device"] += 1
        keys = [
            "objects",
            "corrupt_objects",
            "records",
            "duplicates",
            "messages_valid",
            *(
                f"q_{r.value}"
                for r in (
                    Reason.MALFORMED_RECORD,
                    Reason.UNKNOWN_KEY,
                    Reason.KEY_DEVICE_MISMATCH,
                    Reason.DECRYPT_FAILED,
                    Reason.IMPLAUSIBLE_TIMESTAMP,
                )
            ),
            "messages_uncatalogued_device",
            "attributable_messages",
            "null_values",
            "unknown_channel_readings",
            "non_null_readings",
        ]
        hours = sorted(by_hour)
        total = Counter[str]()
        for acc in by_hour.values():
            total.update(acc)
        return {
            "contract": "v1",
            "seed": self.seed,
            "devices": self.n_devices,
            "hours": self.hours,
            "fault_rate": self.fault_rate,
            "message_format": self.message_format,
            "messages_start": iso(self.start),
            "messages_end": iso(self.end),
            "arrival_start": iso(hours[0]),
            "arrival_end": iso(hours[-1] + HOUR),
            "expected": {k: total.get(k, 0) for k in keys},
            "by_hour": {iso(h): {k: by_hour[h].get(k, 0) for k in keys} for h in hours},
        }


def generate(
    out: Path,
    devices: int = 20,
    hours: int = 6,
    start: datetime | None = None,
    seed: int = 42,
    fault_rate: float = 0.01,
    message_format: int = 2,
) -> dict[str, Any]:
    start = start or datetime(2026, 4, 4, 0, tzinfo=EPOCH.tzinfo)
    return Generator(out, devices, hours, start, seed, fault_rate, message_format).write()
