-- stats_daily_company: per company, site-local day and metric, from `daily`: consumption summed, gauges
-- averaged over all their readings (n-weighted), extremes kept.
-- Sums and averages in a fixed order: a rerun gives the same bits, whatever DuckDB's parallelism.
select
    company_id,
    local_date,
    metric,
    any_value(unit) as unit,
    count(*) as sensors,
    cast(sum(n) as bigint) as n,
    min(min_value) as min_value,
    max(max_value) as max_value,
    sum(avg_value * n order by sensor_id) / sum(n) as avg_value,
    sum(consumption order by sensor_id) as consumption
from daily
group by company_id, local_date, metric
