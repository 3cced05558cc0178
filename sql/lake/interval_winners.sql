-- The winning copies of the messages with a copy in the interval's arrival hours, keeping those whose winning
-- copy lies in the interval: exactly the messages this interval owns downstream.
-- Parameters: $interval_start, $interval_end (timestamptz).
select
    device_id,
    message_id,
    key_id,
    received_at,
    ts,
    seq,
    readings,
    object_key,
    record_index,
    arrival_hour
from interval_copies($interval_start, $interval_end)
where copy_rank = 1 and arrival_hour >= $interval_start and arrival_hour < $interval_end
