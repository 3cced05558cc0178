-- Runs whose touched partitions a consumer has not taken in yet: every run in ops.touched_period that is not
-- in $covered (a list of run ids the consumer already holds).
select distinct run_id
from ops.touched_period
where not list_contains($covered, run_id)
order by run_id
