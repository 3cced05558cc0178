-- dim_sensor: one row per sensor id with its validity, unit and calibration (a replaced sensor has a new id).
-- Redshift: diststyle all; sortkey (device_id, channel, valid_from).
create table if not exists dim_sensor (
    sensor_id varchar(96) primary key,
    device_id varchar(64) not null,
    site_id varchar(64) not null,
    company_id varchar(64) not null,
    channel varchar(64) not null,
    metric varchar(32) not null,
    raw_unit varchar(16) not null,
    unit varchar(16) not null,
    kind varchar(16) not null,
    scale double precision not null,
    "offset" double precision not null,
    valid_from timestamptz not null,
    valid_to timestamptz
)
