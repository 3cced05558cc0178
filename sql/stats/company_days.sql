-- The (company, site-local day)s stats_daily and the roll-ups recompute: the touched ones and the counters'
-- next ones.
select
    company_id,
    local_date
from touched
union
select
    company_id,
    local_date
from nexts
