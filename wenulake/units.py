"""Metrics, the raw units they may be reported in, and the conversion to canonical units (contract v1).

`value = to_canonical(raw) * scale + offset`; every conversion is `raw * factor + shift`.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("gauge", "counter")


@dataclass(frozen=True)
class Conversion:
    canonical: str
    factor: float
    shift: float

    def apply(self, raw: float) -> float:
        return raw * self.factor + self.shift


#: metric -> raw unit -> conversion to the canonical unit
UNITS: dict[str, dict[str, Conversion]] = {
    "temperature": {
        "°C": Conversion("°C", 1.0, 0.0),
        "C": Conversion("°C", 1.0, 0.0),
        "°F": Conversion("°C", 5 / 9, -32 * 5 / 9),
        "F": Conversion("°C", 5 / 9, -32 * 5 / 9),
        "K": Conversion("°C", 1.0, -273.15),
    },
    "humidity": {"%": Conversion("%", 1.0, 0.0)},
    "co2": {"ppm": Conversion("ppm", 1.0, 0.0)},
    "power": {"W": Conversion("W", 1.0, 0.0), "kW": Conversion("W", 1000.0, 0.0)},
    "energy": {"kWh": Conversion("kWh", 1.0, 0.0), "Wh": Conversion("kWh", 0.001, 0.0)},
}

#: Physical limits of canonical values per metric (the silver gate's plausibility check).
PHYSICAL_LIMITS: dict[str, tuple[float, float]] = {
    "temperature": (-90.0, 150.0),
    "humidity": (0.0, 100.0),
    "co2": (0.0, 100_000.0),
    "power": (-1e9, 1e9),
    "energy": (0.0, 1e12),
}


def conversion(metric: str, unit: str) -> Conversion:
    return UNITS[metric][unit]


def to_canonical(metric: str, unit: str, raw: float) -> float:
    return conversion(metric, unit).apply(raw)
