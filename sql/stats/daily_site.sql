-- stats_daily_site: per site, site-local day and metric, from `daily`: consumption summed, gauges averaged
-- over all their readings (n-weighted), extremes kept.
select
    site_id,
    local_date,
    metric,
    any_value(unit) as unit,
    count(*) as sensors,
    cast(sum(n) as bigint) as n,
    min(min_value) as min_value,
    max(max_value) as max_value,
    sum(avg_value * n) / sum(n) as avg_value,
    sum(consumption) as consumption,
    any_value(company_id) as company_id
from daily
group by site_id, local_date, metric
