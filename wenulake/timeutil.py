"""UTC instants, ISO 8601 parsing and hourly intervals."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)
HOUR = timedelta(hours=1)


def parse_instant(text: str) -> datetime:
    """Parse an ISO 8601 instant; a value without offset is taken as UTC. Raises ValueError."""
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso(value: datetime) -> str:
    """`2026-03-01T04:00:00Z` (microseconds only when present)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def floor_hour(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True, order=True)
class Interval:
    """A half-open UTC interval [start, end) of arrival time."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("interval bounds must be time-zone aware")
        if self.end <= self.start:
            raise ValueError(f"interval end {iso(self.end)} is not after its start {iso(self.start)}")

    @classmethod
    def parse(cls, start: str, end: str) -> Interval:
        return cls(parse_instant(start), parse_instant(end))

    def hours(self) -> Iterator[datetime]:
        """Every arrival hour that overlaps the interval."""
        hour = floor_hour(self.start)
        while hour < self.end:
            yield hour
            hour += HOUR

    def split_hourly(self) -> list[Interval]:
        return [Interval(max(h, self.start), min(h + HOUR, self.end)) for h in self.hours()]

    def __str__(self) -> str:
        return f"[{iso(self.start)}, {iso(self.end)})"
