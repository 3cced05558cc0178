-- Live silver readings of the migrated devices (`legacy_devices`) between $window_start and $window_end: a
-- legacy reading with the same (sensor_id, ts) is not written (live always wins).
with bounds as (
    select
        cast($window_start as timestamptz) as window_start,
        cast($window_end as timestamptz) as window_end
)

select
    reading.sensor_id,
    reading.ts
from silver.reading as reading
semi join legacy_devices on reading.device_id = legacy_devices.device_id
where
    (reading.source is null or reading.source <> 'legacy')
    and reading.ts >= (select bounds.window_start from bounds)
    and reading.ts < (select bounds.window_end from bounds)
