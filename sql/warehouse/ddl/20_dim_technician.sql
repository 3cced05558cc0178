-- dim_technician: one row per field technician of the catalog (technicians.csv); active = may take orders.
-- Redshift: diststyle all.
create table if not exists dim_technician (
    technician_id varchar(64) primary key,
    name varchar(256) not null,
    company varchar(256) not null,
    active boolean not null
)
