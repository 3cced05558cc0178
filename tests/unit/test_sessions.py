"""The pipeline's and the analysts' DuckDB sessions (wenulake.duckdb_sessions)."""

from __future__ import annotations

from wenulake.duckdb_sessions import duckdb_session
from wenulake.settings import Settings


def test_a_session_never_draws_a_progress_bar_on_stdout(tmp_path):
    """DuckDB draws one on stdout for a query past 2 s (seen on a loaded machine): it broke the JSON that
    `wenulake sql --format json` prints."""
    con = duckdb_session(Settings(home=tmp_path / "home"))
    try:
        assert con.execute("select current_setting('enable_progress_bar')").fetchone() == (False,)
        assert con.execute("select current_setting('TimeZone')").fetchone() == ("UTC",)
    finally:
        con.close()
