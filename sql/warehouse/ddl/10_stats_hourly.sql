-- stats_hourly: per sensor and UTC hour: n, min, max, avg of value; consumption (counters only: consecutive
-- deltas in ts order, a reset adds the new value, a delta belongs to its later reading's hour). Full history;
-- the serving copy with a time-to-live is serving.stats_hourly. Redshift: distkey (sensor_id), sortkey
-- (hour_utc, sensor_id).
-- Unique on (sensor_id, hour_utc), declared in no constraint (keys are informational on Redshift):
-- the stats gate checks it on every load; an index would cost loads a factor of 3.
create table if not exists stats_hourly (
    sensor_id varchar(96) not null,
    hour_utc timestamptz not null,
    n bigint not null,
    min_value double precision not null,
    max_value double precision not null,
    avg_value double precision not null,
    consumption double precision,
    device_id varchar(64) not null,
    site_id varchar(64) not null,
    company_id varchar(64) not null,
    metric varchar(32) not null,
    unit varchar(16) not null,
    kind varchar(16) not null,
    period_end timestamptz not null
)
