"""The stats serving store in DynamoDB (`WENULAKE_STATS_SINK=dynamodb`): the cloud design's fast store.

One item per sensor and period: partition key `sensor_id`, sort key `period` (`hour#2026-04-04T01:00:00Z`,
`day#2026-04-04`), the stats as attributes, `expires_at` (epoch seconds) as the table's TTL attribute. Writes
are batched (`batch_writer`, 25 items per request, unprocessed items retried). DynamoDB deletes expired items
late (up to days), so reads filter them out.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from wenulake.errors import ConfigError
from wenulake.settings import Settings

TTL_ATTRIBUTE = "expires_at"


def period_key(table: str, value: Any) -> str:
    if table == "stats_hourly":
        return "hour#" + value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return "day#" + (value.isoformat() if isinstance(value, date) else str(value))


def _attribute(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float):
        return None if math.isnan(value) else Decimal(repr(value))
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


class DynamoDBStatsStore:
    kind = "dynamodb"

    def __init__(self, settings: Settings) -> None:
        import boto3

        from wenulake.storage import aws_config

        self.settings = settings
        self.table_name = settings.stats_table
        self.resource = boto3.resource(
            "dynamodb",
            region_name=settings.s3_region,
            endpoint_url=settings.dynamodb_endpoint_url,
            config=aws_config(settings),
        )
        self._ensured = False

    def ensure(self) -> None:
        """Create the table (on-demand, TTL on `expires_at`) when it does not exist."""
        if self._ensured:
            return
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.resource.meta.client
        try:
            client.describe_table(TableName=self.table_name)
        except client.exceptions.ResourceNotFoundException:
            client.create_table(
                TableName=self.table_name,
                KeySchema=[
                    {"AttributeName": "sensor_id", "KeyType": "HASH"},
                    {"AttributeName": "period", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": "sensor_id", "AttributeType": "S"},
                    {"AttributeName": "period", "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
            client.get_waiter("table_exists").wait(TableName=self.table_name)
            client.update_time_to_live(
                TableName=self.table_name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
            )
        except (BotoCoreError, ClientError) as exc:
            raise ConfigError(f"DynamoDB stats table {self.table_name}: {exc}") from exc
        self._ensured = True

    def write(self, rows: dict[str, pa.Table], keys: dict[str, pa.Table]) -> dict[str, int]:
        """Upsert every row, batched. (Periods that lost all their readings keep their item until its TTL.)"""
        del keys
        self.ensure()
        table = self.resource.Table(self.table_name)
        written = {}
        with table.batch_writer(overwrite_by_pkeys=["sensor_id", "period"]) as batch:
            for name, data in rows.items():
                period_column = "hour_utc" if name == "stats_hourly" else "local_date"
                for row in data.to_pylist():
                    item = {
                        k: _attribute(v) for k, v in row.items() if k not in (period_column, TTL_ATTRIBUTE)
                    }
                    item = {k: v for k, v in item.items() if v is not None}
                    item["period"] = period_key(name, row[period_column])
                    item[TTL_ATTRIBUTE] = int(row[TTL_ATTRIBUTE].timestamp())
                    batch.put_item(Item=item)
                written[name] = data.num_rows
        return written

    def read(self, sensor_id: str, now: datetime | None = None) -> list[dict[str, Any]]:
        """A sensor's live items, expired ones filtered out (DynamoDB's TTL deletes them late)."""
        from boto3.dynamodb.conditions import Attr, Key

        self.ensure()
        now_epoch = int((now or datetime.now(UTC)).timestamp())
        table = self.resource.Table(self.table_name)
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("sensor_id").eq(sensor_id),
            "FilterExpression": Attr(TTL_ATTRIBUTE).gt(now_epoch),
        }
        while True:
            page = table.query(**kwargs)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def purge(self, now: datetime | None = None) -> dict[str, int]:
        """Nothing to do: DynamoDB's TTL deletes expired items (reads already skip them)."""
        return {}
