-- The processed landing hours (`hours`: hour_start) as runs of consecutive hours: each hour with the frontier
-- of its run, the first hour after it that is not processed (the gap rule judges silence up to there).
with numbered as (
    select distinct
        hour_start,
        cast(epoch(hour_start) // 3600 as bigint) as n
    from hours
),

runs as (
    select
        hour_start,
        n - row_number() over (order by n) as run
    from numbered
)

select
    hour_start,
    max(hour_start) over (partition by run) + interval 1 hour as frontier
from runs
