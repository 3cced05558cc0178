-- Every landing hour the pipeline has processed (ops.ingest_ledger): the time the gap rule may judge.
select distinct arrival_hour as hour_start
from ops.ingest_ledger
