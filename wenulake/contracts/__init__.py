"""Contracts as code: table names, schemas, quarantine reasons. A magic string appears once, here."""

from wenulake.contracts.reasons import (
    BRONZE_MESSAGE_REASONS,
    MESSAGE_LEVEL_REASONS,
    Reason,
    Stage,
)
from wenulake.contracts.tables import TABLES, TableSpec

__all__ = [
    "BRONZE_MESSAGE_REASONS",
    "MESSAGE_LEVEL_REASONS",
    "TABLES",
    "Reason",
    "Stage",
    "TableSpec",
]
