"""The business catalog: companies, sites, devices, sensors, thresholds (SQLAlchemy Core + Alembic)."""
