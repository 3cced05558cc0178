-- stats_daily rows of the recomputed company-days: one per sensor and site-local date, from `deltas`.
-- Sums and averages in a fixed order: a rerun gives the same bits, whatever DuckDB's parallelism.
select
    sensor_id,
    local_date,
    count(*) as n,
    min(value) as min_value,
    max(value) as max_value,
    avg(value order by ts) as avg_value,
    case when any_value(kind) = 'counter' then coalesce(sum(delta order by ts), 0) end as consumption,
    any_value(device_id) as device_id,
    any_value(site_id) as site_id,
    any_value(company_id) as company_id,
    any_value(metric) as metric,
    any_value(unit) as unit,
    any_value(kind) as kind,
    -- the end of the site-local day, in UTC (a DST day lasts 23 or 25 hours)
    timezone(any_value(timezone), cast(local_date + interval 1 day as timestamp)) as period_end
from deltas
group by sensor_id, local_date
