#!/bin/sh
# One-shot service of docker-compose.yml: buckets on the S3 server, a generated sample landing and keyring in
# them, and the sample's catalog loaded; then the sensors DAG has something to process. Idempotent: the sample
# is generated once per volume, buckets and uploads are re-created (the moto S3 server keeps them in memory).
set -eu
sample=/data/sample
if [ ! -f "$sample/manifest.json" ]; then
  wenulake landing generate --out "$sample" --start "${SAMPLE_START:-2026-04-04T00:00:00Z}" \
    --hours "${SAMPLE_HOURS:-6}" --devices "${SAMPLE_DEVICES:-60}"
fi
python - "$sample" <<'PY'
import sys
from pathlib import Path

import boto3

from wenulake.settings import Settings
from wenulake.storage import split_s3_url

settings = Settings()
sample = Path(sys.argv[1])
s3 = boto3.client("s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region)
landing_bucket, landing_prefix = split_s3_url(settings.landing_uri)
keyring_bucket, keyring_key = split_s3_url(settings.keyring_uri)
for url in (settings.landing_uri, settings.lake_uri, settings.stage_uri, settings.keyring_uri):
    bucket = split_s3_url(url)[0]
    if bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=bucket)
for path in sorted((sample / "landing").rglob("*")):
    if path.is_file():
        key = f"{landing_prefix.strip('/')}/{path.relative_to(sample / 'landing').as_posix()}"
        s3.upload_file(str(path), landing_bucket, key)
s3.upload_file(str(sample / "keyring.json"), keyring_bucket, keyring_key)
print(f"sample landing in {settings.landing_uri}, keyring {settings.keyring_uri}")
PY
wenulake catalog load "$sample/catalog"
