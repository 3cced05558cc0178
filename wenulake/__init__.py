"""wenulake: the IoT sensor lakehouse (landing -> bronze -> silver -> gold, warehouse, stats, alarms)."""

__version__ = "0.1.0"
