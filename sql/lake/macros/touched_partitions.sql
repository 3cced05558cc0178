-- touched_partitions(runs): the (sensor_id, local_date) partitions whose silver rows the given runs
-- (a list of run ids) may have changed: the unit in which later stages (warehouse, stats) recompute.
create or replace macro touched_partitions(of_runs) as table
    select distinct
        sensor_id,
        local_date
    from ops.touched_period
    where list_contains(of_runs, run_id)
