-- fact_alarm: one row per alarm episode (rule threshold, flatline, gap, anomaly or counter_reset), status
-- open, closed or retracted; loaded whole from gold.fact_alarm by the alarms DAG. Redshift: diststyle all,
-- sortkey (started_at).
create table if not exists fact_alarm (
    alarm_id varchar(64) primary key,
    rule varchar(32) not null,
    severity varchar(16) not null,
    sensor_id varchar(96),
    device_id varchar(64) not null,
    site_id varchar(64) not null,
    company_id varchar(64) not null,
    started_at timestamptz not null,
    ended_at timestamptz,
    peak_value double precision,
    status varchar(16) not null,
    opened_run varchar(256) not null,
    closed_run varchar(256)
)
