-- interval_copies(interval_start, interval_end): every copy of the messages with a copy in the interval's
-- arrival hours, ranked within its message: copy_rank 1 is the winner (earliest received_at; ties:
-- object_key, record_index), in whatever interval it lies. The one definition of the duplicate rule.
create or replace macro interval_copies(interval_start, interval_end) as table
    with interval_messages as (
        select distinct
            device_id,
            message_id
        from bronze.sensor_message
        where arrival_hour >= interval_start and arrival_hour < interval_end
    )

    select
        copies.*,
        row_number() over (
            partition by copies.device_id, copies.message_id
            order by copies.received_at, copies.object_key, copies.record_index
        ) as copy_rank
    from bronze.sensor_message as copies
    semi join interval_messages
        on
            copies.device_id = interval_messages.device_id
            and copies.message_id = interval_messages.message_id
