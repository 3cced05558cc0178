# The wenulake image: Python 3.11, Java 17 for Spark, the pinned lock file, this repo installed, and the package
# archive cluster mode ships to executors (dist/wenulake-<version>.zip). Used by every docker-compose service
# but postgres.
FROM python:3.11.11-slim-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/wenulake
COPY requirements.lock pyproject.toml ./
RUN pip install --no-cache-dir uv==0.13.9 && uv pip install --system --no-cache -r requirements.lock
COPY . .
RUN uv pip install --system --no-deps -e . && python -m wenulake.cluster package
ENV PYSPARK_PYTHON=/usr/local/bin/python WENULAKE_HOME=/data
