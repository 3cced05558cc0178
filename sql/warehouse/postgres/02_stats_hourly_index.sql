-- PostgreSQL only: the keys stats loads delete by.
create index if not exists stats_hourly_key on stats_hourly (sensor_id, hour_utc)
