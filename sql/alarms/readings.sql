-- The silver readings the rules see, per device of `scope` (device_id, window_start): every reading of its
-- sensors from the device's window_start to $window_end, and each sensor's last reading before
-- window_start (searched $previous_days days back): counter_reset, flatline, anomaly and gap compare a
-- reading with the one before it, so the evaluated span carries its own context. Parameters are written
-- inline, not read from a shared CTE through scalar subqueries: DuckDB 1.4 hung on that over ~1M readings.
with inside as (
    select
        reading.sensor_id,
        reading.ts,
        reading.value,
        reading.kind,
        reading.metric,
        reading.device_id,
        reading.site_id,
        reading.company_id
    from silver.reading as reading
    inner join scope on reading.device_id = scope.device_id
    where
        reading.ts >= scope.window_start
        and reading.ts < cast($window_end as timestamptz)  -- noqa: RF02
),

previous as (
    select
        reading.sensor_id,
        reading.ts,
        reading.value,
        reading.kind,
        reading.metric,
        reading.device_id,
        reading.site_id,
        reading.company_id
    from silver.reading as reading
    inner join scope on reading.device_id = scope.device_id
    where
        reading.ts < scope.window_start
        and reading.ts >= scope.window_start - to_days(cast($previous_days as bigint))  -- noqa: RF02
    qualify row_number() over (partition by reading.sensor_id order by reading.ts desc) = 1
)

select * from inside
union all
select * from previous
