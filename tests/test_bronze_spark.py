"""The bronze transform as Spark runs it (mapInArrow on local[2]) equals the plain-Python decode."""

from __future__ import annotations

import pyarrow as pa
import pytest

from tests.helpers import arrival_range
from wenulake.crypto import KeyringSource
from wenulake.landing import list_interval
from wenulake.pipeline import bronze
from wenulake.storage import StoreSpec
from wenulake.transforms.bronze import OBJECT_BODY_SCHEMA, OUTCOME_SCHEMA, decode_objects

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_spark_transform_equals_python_decode(spark, sample):
    store = StoreSpec(str(sample["dir"] / "landing")).open()
    objects = list_interval(store, arrival_range(sample["manifest"]))
    bodies = bronze.descriptors(objects).append_column(
        "body", pa.array([store.get(o.info.key) for o in objects], pa.binary())
    )
    keyring = KeyringSource(str(sample["dir"] / "keyring.json"))
    frame = spark.createDataFrame(bodies.cast(OBJECT_BODY_SCHEMA)).repartition(3)
    via_spark = bronze.transform(frame, keyring).toArrow().cast(OUTCOME_SCHEMA)
    plain = pa.Table.from_batches(list(decode_objects(bodies.cast(OBJECT_BODY_SCHEMA).to_batches(), keyring)))

    def canonical(table: pa.Table) -> pa.Table:
        keys = [("kind", "ascending"), ("object_key", "ascending"), ("record_index", "ascending")]
        return table.sort_by(keys).drop_columns(["readings"])

    assert canonical(via_spark).equals(canonical(plain.cast(OUTCOME_SCHEMA)))
    assert (
        via_spark.num_rows
        == sample["manifest"]["expected"]["records"]
        + sample["manifest"]["expected"]["objects"]
        + sample["manifest"]["expected"]["corrupt_objects"]
    )
