-- PostgreSQL only: the analysts' read-only group role. `wenulake sql` logs in as a member of it
-- (WENULAKE_WAREHOUSE_READER_URL); it can read the published tables and nothing else (docs/security.md).
do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'wenulake_reader') then
        create role wenulake_reader nologin;
    end if;
exception when duplicate_object or unique_violation then null;  -- another first run created it meanwhile
end
$$
