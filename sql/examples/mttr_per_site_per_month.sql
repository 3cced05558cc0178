-- Mean time to repair (hours from order creation to completion) per site and month, with the orders an
-- alarm opened shown apart and the time from the alarm's start to the repair.
select
    site.name as site,
    orders.site_id,
    date_trunc('month', orders.created_at) as month,
    orders.source = 'alarm' as opened_by_alarm,
    count(*) as completed_orders,
    round(avg(orders.time_to_repair) / 3600, 2) as mttr_hours,
    round(median(orders.time_to_repair) / 3600, 2) as median_hours,
    round(avg(epoch(orders.completed_at - alarms.started_at)) / 3600, 2) as alarm_to_repair_hours
from fact_work_order as orders
left join dim_site as site on orders.site_id = site.site_id
left join fact_alarm as alarms on orders.alarm_id = alarms.alarm_id
where orders.status = 'completed'
group by all
order by orders.site_id, month, opened_by_alarm
