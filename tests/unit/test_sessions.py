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


def test_a_session_is_bounded_by_the_memory_limit_and_spills_under_the_home(tmp_path):
    """DuckDB's default is 80% of the machine: a large batch grew the command's process instead of spilling."""
    home = tmp_path / "home"
    con = duckdb_session(Settings(home=home, duckdb_memory_limit="256MB"))
    try:
        (limit,) = con.execute("select current_setting('memory_limit')").fetchone()
        assert limit in ("256.0 MB", "244.1 MiB"), limit
        (spill,) = con.execute("select current_setting('temp_directory')").fetchone()
        assert spill == str(home.absolute() / "tmp" / "duckdb")
        # a sort of ~400 MB of rows finishes within the limit by spilling there
        (n,) = con.execute(
            "select count(*) from (select i, repeat('x', 40) || i::varchar as s from range(8000000) t(i) "
            "order by s desc)"
        ).fetchone()
        assert n == 8_000_000
    finally:
        con.close()
