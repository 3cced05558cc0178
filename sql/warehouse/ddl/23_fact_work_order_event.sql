-- fact_work_order_event: one row per distinct work-order event (duplicates removed), with what the order
-- lifecycle made of it: applied (sequence = its place among the order's applied events), unknown_order or
-- invalid_transition. Loaded whole by the workorders DAG.
-- Redshift: distkey (order_id), sortkey (occurred_at).
create table if not exists fact_work_order_event (
    event_id varchar(128) primary key,
    order_id varchar(64) not null,
    event_type varchar(64) not null,
    occurred_at timestamptz not null,
    technician_id varchar(64),
    status varchar(32) not null,
    sequence bigint,
    delivery varchar(16) not null,
    arrival_hour timestamptz not null
)
