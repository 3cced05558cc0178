-- stats_daily: per sensor and site-local day (DST-aware: 23, 24 or 25 hours), as stats_hourly; a day's first
-- delta starts from the last reading before the day. Loads replace whole company-days (so the roll-ups stay
-- complete). Redshift: distkey (sensor_id), sortkey (local_date, sensor_id).
-- Unique on (sensor_id, local_date), declared in no constraint (keys are informational on Redshift):
-- the stats gate checks it on every load; an index would cost loads a factor of 3.
create table if not exists stats_daily (
    sensor_id varchar(96) not null,
    local_date date not null,
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
