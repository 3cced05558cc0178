-- Silver quarantine rows left by a copy that is no longer its message's winner: the interval's winners
-- (registered as `winners`) own these messages now. Parameters: $interval_start, $interval_end.
select
    quarantine.object_key,
    quarantine.record_index
from ops.quarantine as quarantine
semi join winners
    on
        quarantine.device_id = winners.device_id
        and quarantine.message_id = winners.message_id
where
    quarantine.stage = 'silver'
    and quarantine.resolved_at is null
    and (quarantine.arrival_hour < $interval_start or quarantine.arrival_hour >= $interval_end)
