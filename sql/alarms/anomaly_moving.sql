-- Rule `anomaly`, step 1: the readings that fill the windows, sorted by sensor and ts (narrow: step 3 takes
-- device, site and company from each episode's first reading): every gauge reading of the sensor, so that a
-- window is the sensor's last readings whatever their values (readings.sql's lookback counts them the same
-- way). Readings outside the alarm limits (`outside`) fill windows but are never flagged: the threshold rule
-- has them. Silver's values are never null: the filter only states what the windows rely on.
-- (grouped: bounds.sql gives a reading once per matching threshold of its sensor.)
-- Registered: `readings` (bounds.sql).
select
    sensor_id,
    ts,
    value,
    bool_or(outside) as outside
from readings
where
    kind = 'gauge'
    and value is not null
group by sensor_id, ts, value
order by sensor_id, ts
