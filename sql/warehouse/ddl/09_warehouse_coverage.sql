-- ops.warehouse_coverage: the runs whose touched partitions the warehouse holds, and the load that brought
-- them. A run whose load failed is missing here: the next load stages its partitions too (catching up).
create table if not exists ops.warehouse_coverage (
    source_run_id varchar(256) not null,
    loaded_by varchar(256) not null,
    loaded_at timestamptz not null
)
