-- dim_threshold: alarm thresholds; sensor_id null = the default for the metric. Redshift: diststyle all.
create table if not exists dim_threshold (
    threshold_id varchar(160) primary key,
    sensor_id varchar(96),
    metric varchar(32) not null,
    min_value double precision,
    max_value double precision,
    severity varchar(16) not null
)
