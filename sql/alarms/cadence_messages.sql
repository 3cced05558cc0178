-- The messages (device_id, ts) that the cadences of a device's messages read by the rules need (cadence.sql):
-- every message of each device of `scope` (device_id, window_start: its first reading read minus
-- WENULAKE_ALARM_CADENCE_DAYS) from window_start to $window_end. Only the two columns: cheap to read.
select distinct
    reading.device_id,
    reading.ts
from silver.reading as reading
inner join scope on reading.device_id = scope.device_id
where
    reading.ts >= scope.window_start
    and reading.ts < (select cast($window_end as timestamptz))
