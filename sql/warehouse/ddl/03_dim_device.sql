-- dim_device: one row per device. Redshift: diststyle all.
create table if not exists dim_device (
    device_id varchar(64) primary key,
    site_id varchar(64) not null,
    company_id varchar(64) not null,
    installed_at timestamptz,
    retired_at timestamptz
)
