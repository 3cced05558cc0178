-- Per reading (`readings`), its counter delta: value minus the previous reading's value in ts order; a
-- negative delta is a reset and adds the new value; the first reading of a series adds nothing (null).
-- Gauges: null (they skip the window: most readings are gauges).
-- A day's first reading starts from `previous_values` (the last reading before that day).
with ordered as (
    select
        readings.*,
        coalesce(
            lag(readings.value) over (
                partition by readings.sensor_id, readings.local_date
                order by readings.ts
            ),
            previous_values.previous_value
        ) as previous_value
    from readings
    left join previous_values
        on
            readings.sensor_id = previous_values.sensor_id
            and readings.local_date = previous_values.local_date
    where readings.kind = 'counter'
)

select
    * exclude (previous_value),
    case
        when previous_value is null then null
        when value >= previous_value then value - previous_value
        else value
    end as delta
from ordered
union all by name
select
    *,
    cast(null as double) as delta
from readings
where kind <> 'counter'
