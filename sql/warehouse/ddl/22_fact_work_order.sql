-- fact_work_order: one row per work order, an accumulating snapshot rebuilt from its events in occurred_at
-- order. time_to_assign and time_to_repair are seconds from created_at to the first assignment and to
-- completion; sla_met is null until the order is completed; materials is JSON [{material_id, quantity}].
-- alarm_id joins fact_alarm for orders an alarm opened. Loaded whole by the workorders DAG.
-- Redshift: distkey (site_id), sortkey (created_at).
create table if not exists fact_work_order (
    order_id varchar(64) primary key,
    status varchar(16) not null,
    client_id varchar(64) not null,
    site_id varchar(64) not null,
    device_id varchar(64),
    alarm_id varchar(64),
    source varchar(16) not null,
    priority varchar(16) not null,
    description varchar(1024),
    sla_hours double precision not null,
    created_at timestamptz not null,
    assigned_at timestamptz,
    started_at timestamptz,
    completed_at timestamptz,
    cancelled_at timestamptz,
    cancel_reason varchar(1024),
    technician_id varchar(64),
    resolution varchar(1024),
    sla_due_at timestamptz not null,
    sla_met boolean,
    time_to_assign double precision,
    time_to_repair double precision,
    materials varchar(4096),
    material_quantity double precision,
    evidence_count bigint not null,
    events bigint not null,
    last_event_at timestamptz not null
)
