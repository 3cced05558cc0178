-- Arrival hours holding unresolved enrichment quarantine of the given reasons, optionally within a range.
-- Parameters: $reasons (varchar[]), $interval_start, $interval_end (timestamptz; null = unbounded).
select distinct arrival_hour
from ops.quarantine
where
    stage = 'silver'
    and resolved_at is null
    and list_contains($reasons, reason)
    and ($interval_start is null or arrival_hour >= $interval_start)
    and ($interval_end is null or arrival_hour < $interval_end)
order by arrival_hour
