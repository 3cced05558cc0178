-- Rule `anomaly`, step 2, in SQL: each reading's window, the readings of its sensor in the $anomaly_window
-- minutes before it (its median `center`, its MAD `spread` and its size `points`). The pipeline computes the
-- same numbers with wenulake.transforms.windows (five times faster); this file defines them, and the tests
-- check the two agree to the last bit. Registered: `moving` (anomaly_moving.sql).
with scored as (
    select
        *,
        median(value) over recent as center,
        mad(value) over recent as spread,
        count(value) over recent as points
    from moving
    window recent as (
        partition by sensor_id order by ts
        range between to_minutes(cast($anomaly_window as bigint)) preceding and current row  -- noqa: PRS
        exclude current row
    )
)

select * from scored
order by sensor_id, ts
