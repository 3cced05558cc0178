-- The landing hours the given runs ($runs) processed (ops.ingest_ledger).
select distinct arrival_hour as hour_start
from ops.ingest_ledger
where list_contains($runs, run_id)
