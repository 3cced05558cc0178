-- Legacy cells of one month (`cells`) with the sensor of their device and channel valid at ts (`sensors`,
-- from the catalog snapshot; no sensor: unknown_channel), the value canonicalised like live data
-- (raw * factor + shift, then * scale + offset). sql/legacy/copy_rank.sql ranks the copies of a key when a
-- month can hold any.
select
    cells.file_order,
    cells.object_key,
    cells.line,
    cells.device_id,
    cells.ts,
    cells.local_date,
    cells.channel,
    cells.raw_value,
    sensors.sensor_id,
    sensors.raw_unit,
    sensors.canonical_unit as unit,
    sensors.metric,
    sensors.kind,
    (cells.raw_value * sensors.factor + sensors.shift) * sensors.scale
    + sensors.offset as value  -- noqa: RF04
from cells
left join sensors
    on
        cells.device_id = sensors.device_id
        and cells.channel = sensors.channel
        and cells.ts >= sensors.valid_from
        and (sensors.valid_to is null or cells.ts < sensors.valid_to)
