-- Devices whose silence newly processed landing hours may let the gap rule judge, though none of their
-- readings changed: every device with a reading since $since, with the hour from which its silence is
-- judged again.
select
    device_id,
    cast($first_hour as timestamptz) as first_hour
from silver.reading
where ts >= cast($since as timestamptz)
group by device_id
