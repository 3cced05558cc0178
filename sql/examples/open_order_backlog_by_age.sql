-- Backlog of open work orders by status and age bucket (as of the newest event in the warehouse).
with as_of as (
    select max(last_event_at) as now_ from fact_work_order
),

open_orders as (
    select
        orders.status,
        orders.priority,
        epoch(as_of.now_ - orders.created_at) / 3600 as age_hours
    from fact_work_order as orders
    cross join as_of
    where orders.status not in ('completed', 'cancelled')
)

select
    status,
    case
        when age_hours < 4 then '0-4 h'
        when age_hours < 24 then '4-24 h'
        when age_hours < 72 then '1-3 d'
        else '3 d+'
    end as age_bucket,
    count(*) as orders,
    count(*) filter (where priority in ('high', 'urgent')) as high_or_urgent
from open_orders
group by all
order by status, min(age_hours)
