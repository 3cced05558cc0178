-- Rule `anomaly`, step 1: the readings that score and fill the windows, sorted by sensor and ts (narrow:
-- step 3 takes device, site and company from each episode's first reading).
-- Gauges inside the alarm limits only: readings outside them are left to the threshold rule (they would also
-- distort the windows after them), and a stuck sensor's repeated values are the flatline rule's (silver's
-- values are never null: the filter only states what the windows rely on).
-- Registered: `readings` (bounds.sql).
select
    sensor_id,
    ts,
    value
from readings
where
    kind = 'gauge'
    and value is not null
    and not outside
qualify coalesce(value <> lag(value) over (partition by sensor_id order by ts), true)
order by sensor_id, ts
