-- Where every landed record of an interval went (contract v1 accounting).
-- Parameters: $interval_start, $interval_end (timestamptz): the arrival hours the interval owns.
-- A copy is a duplicate when another copy of the same (device_id, message_id), in any interval, was received
-- earlier (ties: object_key, record_index), so the counts do not depend on the order intervals ran in.
with ledger as (
    select
        count(*) as objects,
        count(*) filter (where status = 'corrupt') as corrupt_objects,
        coalesce(sum(records), 0) as records
    from ops.ingest_ledger
    where arrival_hour >= $interval_start and arrival_hour < $interval_end
),

quarantined as (
    select
        count(*) filter (where reason = 'malformed_record') as q_malformed_record,
        count(*) filter (where reason = 'unknown_key') as q_unknown_key,
        count(*) filter (where reason = 'decrypt_failed') as q_decrypt_failed,
        count(*) filter (where reason = 'implausible_timestamp') as q_implausible_timestamp
    from ops.quarantine
    where stage = 'bronze' and arrival_hour >= $interval_start and arrival_hour < $interval_end
),

interval_messages as (
    select distinct
        device_id,
        message_id
    from bronze.sensor_message
    where arrival_hour >= $interval_start and arrival_hour < $interval_end
),

ranked as (
    select
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
),

copies as (
    select
        count(*) filter (where copy_rank > 1) as duplicates,
        count(*) filter (where copy_rank = 1) as messages_valid
    from ranked
    where arrival_hour >= $interval_start and arrival_hour < $interval_end
)

select
    ledger.objects,
    ledger.corrupt_objects,
    ledger.records,
    copies.duplicates,
    copies.messages_valid,
    quarantined.q_malformed_record,
    quarantined.q_unknown_key,
    quarantined.q_decrypt_failed,
    quarantined.q_implausible_timestamp
from ledger
cross join copies
cross join quarantined
