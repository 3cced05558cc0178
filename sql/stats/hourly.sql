-- stats_hourly rows of the recomputed hours (`hour_keys`) from per-reading deltas (`deltas`).
-- Sums and averages in a fixed order: a rerun gives the same bits, whatever DuckDB's parallelism.
select
    deltas.sensor_id,
    deltas.hour_utc,
    count(*) as n,
    min(deltas.value) as min_value,
    max(deltas.value) as max_value,
    avg(deltas.value order by deltas.ts) as avg_value,
    case
        when any_value(deltas.kind) = 'counter' then coalesce(sum(deltas.delta order by deltas.ts), 0)
    end as consumption,
    any_value(deltas.device_id) as device_id,
    any_value(deltas.site_id) as site_id,
    any_value(deltas.company_id) as company_id,
    any_value(deltas.metric) as metric,
    any_value(deltas.unit) as unit,
    any_value(deltas.kind) as kind,
    deltas.hour_utc + interval 1 hour as period_end
from deltas
semi join hour_keys
    on
        deltas.sensor_id = hour_keys.sensor_id
        and deltas.hour_utc = hour_keys.hour_utc
group by deltas.sensor_id, deltas.hour_utc
