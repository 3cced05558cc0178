-- SLA compliance per client (company) and priority: completed orders on time, late, and open orders already
-- past their due time (as of the newest event in the warehouse, so the answer does not move with the clock).
with as_of as (
    select max(last_event_at) as now_ from fact_work_order
)

select
    company.name as client,
    orders.client_id,
    orders.priority,
    count(*) as orders,
    count(*) filter (where orders.sla_met) as on_time,
    count(*) filter (where not orders.sla_met) as late,
    count(*) filter (
        where orders.status not in ('completed', 'cancelled') and orders.sla_due_at < as_of.now_
    ) as open_overdue,
    round(
        100.0 * count(*) filter (where orders.sla_met)
        / nullif(count(*) filter (where orders.sla_met is not null), 0),
        1
    ) as compliance_pct
from fact_work_order as orders
cross join as_of
left join dim_company as company on orders.client_id = company.company_id
group by all
order by orders.client_id, orders.priority
