-- dim_company: one row per client company. Redshift: diststyle all (small, joined everywhere).
create table if not exists dim_company (
    company_id varchar(64) primary key,
    name varchar(256) not null
)
