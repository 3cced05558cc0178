-- touched_partitions(run_id): the (sensor_id, local_date) partitions whose silver rows a run may have
-- changed: the unit in which later stages (warehouse, stats) recompute.
create or replace macro touched_partitions(of_run) as table
    select distinct
        sensor_id,
        local_date
    from ops.touched_period
    where run_id = of_run
