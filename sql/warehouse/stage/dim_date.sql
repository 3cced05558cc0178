-- dim_date rows for the dates of the staged facts (registered as `facts`).
select distinct
    local_date as date_key,
    cast(year(local_date) as integer) as year,
    cast(quarter(local_date) as integer) as quarter,
    cast(month(local_date) as integer) as month,
    cast(day(local_date) as integer) as day,
    cast(weekofyear(local_date) as integer) as iso_week,
    cast(isodow(local_date) as integer) as day_of_week,
    isodow(local_date) >= 6 as is_weekend
from facts
