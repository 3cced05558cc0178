-- The silver readings the rules see, per device of `scope` (device_id, window_start): every reading of its
-- sensors from the device's window_start to $window_end, and each sensor's last reading before
-- window_start (searched $previous_days days back): counter_reset, flatline, anomaly and gap compare a
-- reading with the one before it, so the evaluated span carries its own context.
with bounds as (
    select
        cast($window_end as timestamptz) as window_end,
        to_days(cast($previous_days as bigint)) as previous_span
),

inside as (
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
        and reading.ts < (select bounds.window_end from bounds)
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
        and reading.ts >= scope.window_start - (select bounds.previous_span from bounds)
    qualify row_number() over (partition by reading.sensor_id order by reading.ts desc) = 1
)

select * from inside
union all
select * from previous
