-- dim_site: one row per site, with its IANA time zone. Redshift: diststyle all.
create table if not exists dim_site (
    site_id varchar(64) primary key,
    company_id varchar(64) not null,
    name varchar(256) not null,
    timezone varchar(64) not null
)
