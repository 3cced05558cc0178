-- PostgreSQL only: loads delete whole (sensor_id, local_date) partitions; without this index each load would
-- scan the whole table (Redshift gets the same from its sort key, DuckDB from its zone maps).
create index if not exists fact_reading_partition on fact_reading (sensor_id, local_date)
