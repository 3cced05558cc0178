-- The silver readings the rules see, per device of `scope` (device_id, window_start): every reading of its
-- sensors from the device's window_start to $window_end, and each sensor's readings before window_start
-- (searched $previous_minutes back) that are among its last $previous_points or in the
-- $previous_floor_minutes before window_start: counter_reset, flatline and gap compare a reading with the one
-- before it, and the anomaly rule a reading with the last readings before it, at least those of its time
-- floor (its recent range), so the evaluated span carries its own context. Parameters are written inline,
-- not read from a shared CTE through scalar subqueries: DuckDB 1.4 hung on that over ~1M readings.
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
        and reading.ts >= scope.window_start - to_minutes(cast($previous_minutes as bigint))  -- noqa: RF02
    qualify
        row_number() over (partition by reading.sensor_id order by reading.ts desc)
        <= cast($previous_points as bigint)  -- noqa: RF02
        or reading.ts  -- noqa: RF02
        >= scope.window_start - to_minutes(cast($previous_floor_minutes as bigint))  -- noqa: RF02
)

select * from inside
union all
select * from previous
