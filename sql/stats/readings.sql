-- Silver rows of the company-days a stats run recomputes (`company_days`, registered by the caller): every
-- sensor of a touched company-day, so the site and company roll-ups are complete.
select
    reading.sensor_id,
    reading.ts,
    reading.local_date,
    date_trunc('hour', reading.ts) as hour_utc,
    reading.value,
    reading.kind,
    reading.metric,
    reading.unit,
    reading.device_id,
    reading.site_id,
    reading.company_id,
    reading.timezone
from silver.reading as reading
semi join company_days
    on
        reading.company_id = company_days.company_id
        and reading.local_date = company_days.local_date
