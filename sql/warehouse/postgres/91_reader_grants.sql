-- PostgreSQL only: what the analysts' role may read: the published tables (never the loads' staging schemas).
-- Re-run by every DDL pass, so a table added later is granted too.
grant usage on schema public, ops to wenulake_reader;
grant select on all tables in schema public, ops to wenulake_reader;
