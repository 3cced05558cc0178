"""Jobs as functions: `extract -> transform -> load`, callable in-process (DAG tasks) or by spark-submit."""
