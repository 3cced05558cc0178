-- ops.warehouse_load: one row per table load: what it replaced, what it inserted, how long it took.
create table if not exists ops.warehouse_load (
    table_name varchar(64) not null,
    run_id varchar(256) not null,
    rows_deleted bigint not null,
    rows_inserted bigint not null,
    seconds double precision not null,
    loaded_at timestamptz not null
)
