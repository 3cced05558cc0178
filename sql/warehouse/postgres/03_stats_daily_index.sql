-- PostgreSQL only: stats_daily loads delete whole (company_id, local_date)s.
create index if not exists stats_daily_key on stats_daily (company_id, local_date)
