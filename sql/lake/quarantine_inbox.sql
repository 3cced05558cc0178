-- The catalog service's quarantine inbox: unresolved enrichment quarantine grouped by device and channel.
-- Parameters: $reasons (varchar[]), $device_id (varchar; null = every device).
select
    device_id,
    channel,
    reason,
    count(*) as readings,
    count(distinct message_id) as messages,
    min(coalesce(ts, arrival_hour)) as first_seen,
    max(coalesce(ts, arrival_hour)) as last_seen,
    left(any_value(raw), 300) as raw_sample
from ops.quarantine
where
    stage = 'silver'
    and resolved_at is null
    and list_contains($reasons, reason)
    and ($device_id is null or device_id = $device_id)
group by device_id, channel, reason
order by readings desc, device_id asc, channel asc
limit 500
