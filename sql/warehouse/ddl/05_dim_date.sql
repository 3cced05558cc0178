-- dim_date: one row per calendar date that facts refer to (site-local dates). Redshift: diststyle all.
create table if not exists dim_date (
    date_key date primary key,
    year integer not null,
    quarter integer not null,
    month integer not null,
    day integer not null,
    iso_week integer not null,
    day_of_week integer not null,
    is_weekend boolean not null
)
