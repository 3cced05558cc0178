"""Pure transforms: DataFrame -> DataFrame (and the per-record Python they run in Arrow batches)."""
