-- stats_daily_site: per site, site-local day and metric: consumption summed over the site's counters, gauges
-- averaged over all their readings, extremes kept. Redshift: diststyle even, sortkey (local_date, site_id).
create table if not exists stats_daily_site (
    site_id varchar(64) not null,
    local_date date not null,
    metric varchar(32) not null,
    unit varchar(16) not null,
    sensors bigint not null,
    n bigint not null,
    min_value double precision not null,
    max_value double precision not null,
    avg_value double precision not null,
    consumption double precision,
    company_id varchar(64) not null,
    primary key (site_id, local_date, metric)
)
