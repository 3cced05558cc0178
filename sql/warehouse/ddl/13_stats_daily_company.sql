-- stats_daily_company: per company, site-local day and metric, as stats_daily_site over all the company's
-- sites. Redshift: diststyle all (small), sortkey (local_date, company_id).
create table if not exists stats_daily_company (
    company_id varchar(64) not null,
    local_date date not null,
    metric varchar(32) not null,
    unit varchar(16) not null,
    sensors bigint not null,
    n bigint not null,
    min_value double precision not null,
    max_value double precision not null,
    avg_value double precision not null,
    consumption double precision,
    primary key (company_id, local_date, metric)
)
