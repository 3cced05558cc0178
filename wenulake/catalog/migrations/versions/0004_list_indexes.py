"""List endpoints at scale (100k sensors): indexes for the catalog service's sorts and searches.

B-tree indexes on the sortable columns of the large tables (with the key, so a sort and its tie-break read the
index in order), and, on PostgreSQL, trigram indexes for the substring search (`lower(column) like '%q%'`); a
server where the pg_trgm extension cannot be created keeps sequential scans for search.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SORTED = {
    "sensors": ("sensor_id", ("channel", "metric", "kind", "valid_from")),
    "devices": ("device_id", ("site_id", "installed_at")),
}
SEARCHED = {"sensors": ("sensor_id", "channel"), "devices": ("device_id",)}


def upgrade() -> None:
    for table, (key, columns) in SORTED.items():
        for column in columns:
            op.create_index(f"ix_{table}_{column}_{key}", table, [column, key])
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    try:
        with bind.begin_nested():
            bind.execute(sa.text("create extension if not exists pg_trgm"))
    except sa.exc.DBAPIError:
        return  # no permission to create it: search stays a sequential scan
    for table, columns in SEARCHED.items():
        for column in columns:
            bind.execute(
                sa.text(
                    f"create index if not exists ix_{table}_{column}_trgm on {table} "
                    f"using gin (lower({column}) gin_trgm_ops)"
                )
            )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table, columns in SEARCHED.items():
            for column in columns:
                bind.execute(sa.text(f"drop index if exists ix_{table}_{column}_trgm"))
    for table, (key, columns) in SORTED.items():
        for column in columns:
            op.drop_index(f"ix_{table}_{column}_{key}", table_name=table)
