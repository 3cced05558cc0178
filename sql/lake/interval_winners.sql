-- The winning copies (earliest received_at; ties: object_key, record_index) of the messages that have a copy
-- The winning copies (earliest received_at; ties: object_key, record_index) of the messages with a copy
-- this interval owns downstream. Parameters: $interval_start, $interval_end (timestamptz).
with interval_messages as (
    select distinct
        device_id,
        message_id
    from bronze.sensor_message
    where arrival_hour >= $interval_start and arrival_hour < $interval_end
),

ranked as (
    select
        copies.device_id,
        copies.message_id,
        copies.key_id,
        copies.received_at,
        copies.ts,
        copies.seq,
        copies.readings,
        copies.object_key,
        copies.record_index,
        copies.arrival_hour,
        row_number() over (
            partition by copies.device_id, copies.message_id
            order by copies.received_at, copies.object_key, copies.record_index
        ) as copy_rank
    from bronze.sensor_message as copies
    semi join interval_messages
        on
            copies.device_id = interval_messages.device_id
            and copies.message_id = interval_messages.message_id
)

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
from ranked
where copy_rank = 1 and arrival_hour >= $interval_start and arrival_hour < $interval_end
