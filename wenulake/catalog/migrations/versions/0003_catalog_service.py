"""Catalog service: a row version on every catalog table (optimistic concurrency), retirement dates where the
contract had none, users, API tokens, the audit log and the queue of work a catalog change needs.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CATALOG = ("companies", "sites", "devices", "sensors", "thresholds", "technicians", "materials")
RETIRABLE = ("companies", "sites", "thresholds", "materials")  # devices and sensors already have an end date


def upgrade() -> None:
    for table in CATALOG:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")))
            if table in RETIRABLE:
                batch.add_column(sa.Column("retired_at", sa.DateTime(timezone=True)))
    op.create_table(
        "users",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(64), sa.ForeignKey("users.username"), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "audit_log",
        sa.Column("audit_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("resource", sa.String(32), nullable=False),
        sa.Column("object_id", sa.String(160), nullable=False),
        sa.Column("before", sa.Text),
        sa.Column("after", sa.Text),
    )
    op.create_index("ix_audit_object", "audit_log", ["resource", "object_id"])
    op.create_table(
        "catalog_jobs",
        sa.Column("job_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("result", sa.Text),
    )


def downgrade() -> None:
    for table in ("catalog_jobs", "audit_log", "api_tokens", "users"):
        op.drop_table(table)
    for table in CATALOG:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("version")
            if table in RETIRABLE:
                batch.drop_column("retired_at")
