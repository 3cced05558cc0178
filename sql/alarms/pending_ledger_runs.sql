-- Runs that processed landing hours the alarms module has not taken in yet: every run of
-- ops.ingest_ledger not in $covered. A run whose objects changed no reading (late duplicate copies
-- only) still extends the processed landing hours, over which the gap rule judges silence.
select distinct run_id
from ops.ingest_ledger
where
    run_id is not null
    and not list_contains($covered, run_id)
order by run_id
