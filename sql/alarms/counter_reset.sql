-- Rule `counter_reset`: a counter reading lower than the one before it; one closed alarm per reset (started
-- and ended at the reading after the reset), severity info, peak = the value before the reset.
-- Registered: `readings`.
with ordered as (
    select
        *,
        lag(value) over (partition by sensor_id order by ts) as previous_value
    from readings
    where kind = 'counter'
)

select
    'counter_reset' as rule,
    'info' as severity,
    sensor_id,
    device_id,
    site_id,
    company_id,
    ts as started_at,
    ts as ended_at,
    previous_value as peak_value
from ordered
where value < previous_value
