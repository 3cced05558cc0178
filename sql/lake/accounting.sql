-- Where every landed record of an interval went (contract v1 accounting, plus keyring v2's
-- key_device_mismatch, a message-level reason of the balance).
-- Parameters: $interval_start, $interval_end (timestamptz): the arrival hours the interval owns.
-- A copy is a duplicate when another copy of the same (device_id, message_id), in any interval, was received
-- earlier (ties: object_key, record_index), so the counts do not depend on the order intervals ran in.
-- Silver reasons and nulls count once per winning copy (never for duplicates), unresolved rows only.
with ledger as (
    select
        count(*) as objects,
        count(*) filter (where status = 'corrupt') as corrupt_objects,
        coalesce(sum(records), 0) as records
    from ops.ingest_ledger
    where arrival_hour >= $interval_start and arrival_hour < $interval_end
),

bronze_quarantine as (
    select
        count(*) filter (where reason = 'malformed_record') as q_malformed_record,
        count(*) filter (where reason = 'unknown_key') as q_unknown_key,
        count(*) filter (where reason = 'key_device_mismatch') as q_key_device_mismatch,
        count(*) filter (where reason = 'decrypt_failed') as q_decrypt_failed,
        count(*) filter (where reason = 'implausible_timestamp') as q_implausible_timestamp
    from ops.quarantine
    where stage = 'bronze' and arrival_hour >= $interval_start and arrival_hour < $interval_end
),

copies_in_interval as (
    select *
    from interval_copies($interval_start, $interval_end)
    where arrival_hour >= $interval_start and arrival_hour < $interval_end
),

winners as (
    select *
    from copies_in_interval
    where copy_rank = 1
),

silver_quarantine as (
    select
        quarantine.reason,
        quarantine.device_id,
        quarantine.message_id
    from ops.quarantine as quarantine
    semi join winners
        on
            quarantine.object_key = winners.object_key
            and quarantine.record_index = winners.record_index
    where quarantine.stage = 'silver' and quarantine.resolved_at is null
),

unknown_device_messages as (
    select distinct
        device_id,
        message_id
    from silver_quarantine
    where reason = 'unknown_device'
),

copies as (
    select
        count(*) filter (where copy_rank > 1) as duplicates,
        count(*) filter (where copy_rank = 1) as winning_copies
    from copies_in_interval
),

reading_values as (
    select unnest(map_values(winners.readings)) as raw_value
    from winners
    anti join unknown_device_messages
        on
            winners.device_id = unknown_device_messages.device_id
            and winners.message_id = unknown_device_messages.message_id
),

device_counts as (
    select count(*) as q_unknown_device
    from unknown_device_messages
),

channel_counts as (
    select count(*) filter (where reason = 'unknown_channel') as q_unknown_channel
    from silver_quarantine
),

null_counts as (
    select count(*) filter (where raw_value is null) as null_values
    from reading_values
)

select
    ledger.objects,
    ledger.corrupt_objects,
    ledger.records,
    copies.duplicates,
    copies.winning_copies - device_counts.q_unknown_device as messages_valid,
    null_counts.null_values,
    bronze_quarantine.q_malformed_record,
    bronze_quarantine.q_unknown_key,
    bronze_quarantine.q_key_device_mismatch,
    bronze_quarantine.q_decrypt_failed,
    bronze_quarantine.q_implausible_timestamp,
    device_counts.q_unknown_device,
    channel_counts.q_unknown_channel
from ledger
cross join copies
cross join bronze_quarantine
cross join device_counts
cross join channel_counts
cross join null_counts
