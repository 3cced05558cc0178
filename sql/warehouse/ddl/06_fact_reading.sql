-- fact_reading: one row per (sensor_id, ts), canonical value. Loads replace whole (sensor_id, local_date)
-- partitions. Redshift: distkey (sensor_id), compound sortkey (local_date, sensor_id, ts).
-- Unique on (sensor_id, ts), declared in no constraint (keys are informational on Redshift):
-- the gold gate checks it on every load; an index would cost loads a factor of 3.
create table if not exists fact_reading (
    sensor_id varchar(96) not null,
    ts timestamptz not null,
    local_date date not null,
    value double precision not null,
    raw_value double precision not null,
    device_id varchar(64) not null,
    site_id varchar(64) not null,
    company_id varchar(64) not null,
    metric varchar(32) not null,
    unit varchar(16) not null,
    message_id varchar(64) not null,
    received_at timestamptz not null
)
