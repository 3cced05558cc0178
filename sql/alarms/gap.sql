-- Rule `gap`, cadence- and coverage-aware: a device sends nothing for at least
-- max($gap_minutes, $cadence_factor x its cadence) of time the pipeline can judge. `cadence` (cadence.sql:
-- device_id, ts -> report_interval_s, null when unknown) gives the cadence at the message that starts the
-- silence. A silence is judged only up to its horizon: the first landing hour not processed at or after the
-- silence's first hour (`coverage`: hour_start -> frontier, the end of its run of processed hours) minus
-- $settle_hours (readings arrive up to that late). A silence whose next message lies beyond the horizon is
-- open, and an open one only once the horizon is the threshold past its start; a silence starting in an
-- hour not processed yet is not judged at all.
-- Flapping suppression: a gap silence starts a new episode unless the previous gap silence of the device
-- is open, or ended less than $merge_periods periods before it starts (period = the cadence at its start,
-- or $gap_minutes without one): then it joins the previous one's episode. An episode
-- starts at its first silence's last message before, ends at its last silence's first message after (null
-- while that one is open); peak value = its longest silence in minutes (so far, while open); sensor_id
-- null. Registered: `readings`, `coverage`, `cadence`.
with messages as (
    select distinct
        device_id,
        site_id,
        company_id,
        ts
    from readings
),

silences as (
    select
        *,
        lead(ts) over (partition by device_id order by ts) as next_ts
    from messages
),

settle as (
    select
        to_hours(cast($settle_hours as bigint)) as span,
        $gap_minutes * 60.0 as gap_s,
        cast($cadence_factor as double) as factor
),

judged as (
    select
        silences.*,
        coverage.frontier - settle.span as horizon,
        greatest(settle.gap_s, settle.factor * coalesce(cadence.report_interval_s, 0.0)) as threshold_s,
        coalesce(cadence.report_interval_s, settle.gap_s) as period_s
    from silences
    cross join settle
    inner join coverage on date_trunc('hour', silences.ts) = coverage.hour_start
    left join cadence on silences.device_id = cadence.device_id and silences.ts = cadence.ts
),

known as (
    select
        *,
        case when next_ts <= horizon then next_ts end as ended_at,
        least(coalesce(next_ts, horizon), horizon) as known_until
    from judged
),

gaps as (
    select
        *,
        lag(ended_at) over (partition by device_id order by ts) as previous_end,
        lag(ts) over (partition by device_id order by ts) as previous_start
    from known
    where epoch(known_until - ts) >= threshold_s
),

numbered as (
    select
        *,
        sum(
            case
                when previous_start is null then 1
                when previous_end is null then 0
                when epoch(ts - previous_end) < $merge_periods * period_s then 0
                else 1
            end
        ) over (partition by device_id order by ts rows unbounded preceding) as episode
    from gaps
)

select
    'gap' as rule,
    'warning' as severity,
    null::varchar as sensor_id,
    device_id,
    any_value(site_id) as site_id,
    any_value(company_id) as company_id,
    min(ts) as started_at,
    arg_max_null(ended_at, ts) as ended_at,
    max(epoch(known_until - ts) / 60.0) as peak_value
from numbered
group by device_id, episode
