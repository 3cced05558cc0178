-- Energy consumption (kWh) per company and site-local day, from the energy counters: the sum of consecutive
-- deltas in ts order; a negative delta is a meter reset and counts the new value; the first reading of a
-- meter adds nothing.
with deltas as (
    select
        company_id,
        local_date,
        value - lag(value) over (partition by sensor_id order by ts) as delta,
        value
    from fact_reading
    where metric = 'energy'
)

select
    company.name as company,
    deltas.local_date,
    round(sum(case when deltas.delta < 0 then deltas.value else deltas.delta end), 3) as kwh
from deltas
inner join dim_company as company on deltas.company_id = company.company_id
where deltas.delta is not null
group by company.name, deltas.local_date
order by company, deltas.local_date
