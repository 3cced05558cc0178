-- Where every landed work-order record of an interval went (work-order contract v1 accounting).
-- Parameters: $interval_start, $interval_end (timestamptz): the arrival hours the interval owns.
-- A copy is a duplicate when another copy of the same event_id landed earlier (arrival hour, object key,
-- record index), in any interval; a distinct event counts where its winning copy landed, with what the
-- lifecycle made of it (applied, unknown_order, invalid_transition), so the counts do not depend on the order
-- intervals ran in. records = events_valid + duplicates + every q_* but corrupt objects.
with ledger as (
    select
        count(*) as objects,
        count(*) filter (where status = 'corrupt') as corrupt_objects,
        coalesce(sum(records), 0) as records
    from ops.workorder_ledger
    where arrival_hour >= $interval_start and arrival_hour < $interval_end
),

parse_quarantine as (
    select
        count(*) filter (where reason = 'malformed_event') as q_malformed_event,
        count(*) filter (where reason = 'unknown_event_type') as q_unknown_event_type
    from ops.quarantine
    where
        stage = 'workorders'
        and arrival_hour >= $interval_start
        and arrival_hour < $interval_end
),

interval_events as (
    select distinct event_id
    from bronze.work_order_event
    where arrival_hour >= $interval_start and arrival_hour < $interval_end
),

ranked as (
    select
        copies.event_id,
        copies.arrival_hour,
        row_number() over (
            partition by copies.event_id
            order by copies.arrival_hour, copies.object_key, copies.record_index
        ) as copy_rank
    from bronze.work_order_event as copies
    semi join interval_events on copies.event_id = interval_events.event_id
),

in_interval as (
    select
        ranked.copy_rank,
        events.status
    from ranked
    left join silver.work_order_event as events on ranked.event_id = events.event_id
    where ranked.arrival_hour >= $interval_start and ranked.arrival_hour < $interval_end
),

copies as (
    select
        count(*) filter (where copy_rank > 1) as duplicates,
        count(*) filter (where copy_rank = 1 and status = 'applied') as events_valid,
        count(*) filter (where copy_rank = 1 and status = 'unknown_order') as q_unknown_order,
        count(*) filter (where copy_rank = 1 and status = 'invalid_transition') as q_invalid_transition
    from in_interval
)

select
    ledger.objects,
    ledger.corrupt_objects,
    ledger.records,
    copies.duplicates,
    copies.events_valid,
    parse_quarantine.q_malformed_event,
    parse_quarantine.q_unknown_event_type,
    copies.q_unknown_order,
    copies.q_invalid_transition
from ledger
cross join copies
cross join parse_quarantine
