-- Attributed legacy cells (`attributed`, from legacy/attribute.sql) with `copy_rank`: 1 for the first copy
-- of a (sensor_id, ts) in file order, then line order; null for cells without a sensor (unknown_channel).
select
    attributed.*,
    case
        when attributed.sensor_id is null then null
        else
            row_number() over (
                partition by attributed.sensor_id, attributed.ts
                order by attributed.file_order, attributed.line
            )
    end as copy_rank
from attributed
