"""docker-compose.yml and infra/terraform/ are validated by parsing (no Docker engine, no Terraform binary)."""

from __future__ import annotations

import functools
import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


COMPOSE = ROOT / "docker-compose.yml"
#: what every wenulake service of the local stack must be told (the rest keep their defaults)
COMPOSE_SETTINGS = {
    "WENULAKE_HOME", "WENULAKE_LANDING", "WENULAKE_LAKE", "WENULAKE_STAGE", "WENULAKE_KEYRING",
    "WENULAKE_S3_ENDPOINT_URL", "WENULAKE_CATALOG_URL", "WENULAKE_WAREHOUSE_URL", "WENULAKE_SPARK_MASTER",
    "WENULAKE_AIRFLOW_HOME", "WENULAKE_DAGS_FOLDER",
}  # fmt: skip
AIRFLOW_SETTINGS = {
    "AIRFLOW_HOME", "AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__EXECUTOR", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__AUTH_MANAGER",
}  # fmt: skip


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def built_services(services: dict[str, Any]) -> dict[str, Any]:
    return {name: s for name, s in services.items() if "build" in s}


def test_compose_services_say_what_they_run():
    services = compose()["services"]
    assert {"postgres", "s3", "spark-master", "spark-worker"} <= set(services)
    assert {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor"} <= set(services)
    commands = {name: s.get("command", [])[:2] for name, s in services.items()}
    assert commands["airflow-apiserver"] == ["airflow", "api-server"]
    assert commands["airflow-scheduler"] == ["airflow", "scheduler"]
    assert commands["airflow-dag-processor"] == ["airflow", "dag-processor"]
    assert commands["spark-master"] == ["spark-class", "org.apache.spark.deploy.master.Master"]
    assert commands["spark-worker"] == ["spark-class", "org.apache.spark.deploy.worker.Worker"]
    assert services["spark-worker"]["command"][-1] == "spark://spark-master:7077"
    assert commands["s3"] == ["moto_server", "-H"]
    # Airflow and Spark are built from this repo (the Dockerfile installs the lock file and this package)
    assert {
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "spark-master",
        "spark-worker",
    } <= set(built_services(services))
    assert all(s["build"] == "." for s in built_services(services).values())


def test_compose_images_are_pinned():
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for name, service in compose()["services"].items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository, f"{name}: image {image!r} has no tag"
        assert tag != "latest", f"{name}: image {image!r} is not pinned"
        assert re.search(r"\d+\.\d+", tag), f"{name}: image tag {tag!r} names no version"
        if "build" in service:
            assert image == f"wenulake:{version}", name
    base = re.search(r"^FROM (\S+)", (ROOT / "Dockerfile").read_text(), re.M)
    assert base
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base.group(1))


def test_compose_wires_every_wenulake_service_with_the_same_complete_settings(
    monkeypatch: pytest.MonkeyPatch,
):
    from wenulake.settings import Settings

    services = compose()["services"]
    envs = {name: s["environment"] for name, s in built_services(services).items()}
    reference = envs["airflow-scheduler"]
    for name, env in envs.items():
        missing = (COMPOSE_SETTINGS | AIRFLOW_SETTINGS) - set(env)
        assert not missing, f"{name} misses {sorted(missing)}"
        for key, value in reference.items():
            if key != "WENULAKE_SPARK_DRIVER_HOST":
                assert env.get(key) == value, f"{name}: {key} differs from the scheduler's"
    fields = {f"WENULAKE_{field.upper()}" for field in Settings.model_fields}
    unknown = {k for k in reference if k.startswith("WENULAKE_")} - fields
    assert not unknown, f"not settings: {sorted(unknown)}"
    # the values are valid settings, and the host names in them are services of the stack
    for key, value in reference.items():
        if key.startswith("WENULAKE_"):
            monkeypatch.setenv(key, str(value))
    settings = Settings()
    hosts = {settings.s3_endpoint_url, settings.catalog_url, settings.warehouse_url, settings.spark_master}
    hosts |= {
        reference["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
        reference["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"],
    }
    for url in hosts:
        host = re.match(r"^[a-z+]+://(?:[^@/]*@)?([a-z0-9-]+)", str(url))
        assert host, url
        assert host.group(1) in services, f"{url}: no service {host.group(1)!r}"
    # the scheduler runs the tasks, so the Spark driver: executors reach it by its service name
    assert reference["WENULAKE_SPARK_DRIVER_HOST"] == "airflow-scheduler"
    # the databases the URLs name are created by the postgres init script
    init = (ROOT / "infra" / "compose" / "postgres-init.sql").read_text()
    for url in (
        settings.catalog_url,
        settings.warehouse_url,
        reference["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
    ):
        database = str(url).rsplit("/", 1)[1]
        assert f"create database {database} " in init, database
    volume = services["postgres"]["volumes"]
    assert "./infra/compose/postgres-init.sql:/docker-entrypoint-initdb.d/10-databases.sql:ro" in volume
    assert (ROOT / "infra" / "compose" / "sample-init.sh").exists()


def test_compose_long_running_services_have_healthchecks_and_dependencies_wait_for_them():
    services = compose()["services"]
    one_shot = {name for name, s in services.items() if s.get("restart") == "no"}
    assert one_shot == {"airflow-init", "sample-init"}
    for name, service in services.items():
        if name not in one_shot:
            test = service.get("healthcheck", {}).get("test")
            assert test, f"{name} has no healthcheck"
            assert test[0] == "CMD"
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        for dependency, rule in depends.items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            expected = "service_completed_successfully" if dependency in one_shot else "service_healthy"
            assert rule["condition"] == expected, f"{name} -> {dependency}"


# -- Terraform: every file parses, the module graph resolves, checkov passes ----------------------------------
TERRAFORM = ROOT / "infra" / "terraform"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
MODULE_META_ARGUMENTS = {"source", "version", "providers", "depends_on", "count", "for_each", "__is_block__"}
REFERENCE = re.compile(r"\bmodule\.([a-z0-9_]+)\.([a-z0-9_]+)")
SKIP = re.compile(r"checkov:skip=(CKV2?_AWS_\d+):(.*)")


def unquote(name: str) -> str:
    return name.strip('"')


@dataclass
class TfModule:
    """One Terraform module folder, parsed: its variables, outputs, module calls and raw text."""

    path: Path
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    resources: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    text: str = ""

    @classmethod
    def load(cls, path: Path) -> TfModule:
        module = cls(path)
        for tf in sorted(path.glob("*.tf")):
            text = tf.read_text()
            module.text += text
            try:
                parsed = hcl2.loads(text)
            except Exception as exc:  # any parse error names the file
                raise AssertionError(f"{tf.relative_to(ROOT)} does not parse: {exc}") from exc
            for block in parsed.get("variable", []):
                module.variables.update({unquote(k): v for k, v in block.items()})
            for block in parsed.get("output", []):
                module.outputs.update({unquote(k): v for k, v in block.items()})
            for block in parsed.get("module", []):
                module.calls.update({unquote(k): v for k, v in block.items()})
            for block in parsed.get("resource", []):
                for kind, named in block.items():
                    for body in named.values():
                        module.resources.setdefault(unquote(kind), []).append(body)
        return module


@functools.cache
def load_modules() -> dict[Path, TfModule]:
    """The root module and every module it reaches through local `source` paths."""
    found: dict[Path, TfModule] = {}
    todo = [TERRAFORM.resolve()]
    while todo:
        path = todo.pop()
        if path in found:
            continue
        module = found[path] = TfModule.load(path)
        for name, call in module.calls.items():
            source = unquote(call["source"])
            assert source.startswith("./") or source.startswith("../"), (
                f"module {name} in {path.relative_to(ROOT)}: source {source!r} is not local (nothing can be downloaded)"
            )
            todo.append((path / source).resolve())
    return found


def test_every_terraform_file_parses_and_every_variable_and_output_is_typed_and_described():
    files = sorted(TERRAFORM.rglob("*.tf"))
    assert len(files) >= 40
    modules = load_modules()
    reached = {tf.parent.resolve() for tf in files}
    assert reached == set(modules), f"module folders nobody calls: {sorted(map(str, reached - set(modules)))}"
    for path, module in modules.items():
        where = path.relative_to(ROOT)
        assert {"main.tf", "variables.tf", "outputs.tf", "versions.tf"} <= {
            p.name for p in path.glob("*.tf")
        }, where
        for name, body in module.variables.items():
            assert unquote(body.get("description", "")), f"{where}: variable {name} has no description"
            assert body.get("type"), f"{where}: variable {name} has no type"
        for name, body in module.outputs.items():
            assert unquote(body.get("description", "")), f"{where}: output {name} has no description"


def test_terraform_module_graph_resolves():
    modules = load_modules()
    for path, module in modules.items():
        where = path.relative_to(ROOT)
        depends: dict[str, set[str]] = {}
        for name, call in module.calls.items():
            target = modules[(path / unquote(call["source"])).resolve()]
            given = set(call) - MODULE_META_ARGUMENTS
            unknown = given - set(target.variables)
            assert not unknown, f"{where}: module {name} is given undeclared variables {sorted(unknown)}"
            required = {v for v, body in target.variables.items() if "default" not in body}
            missing = required - given
            assert not missing, f"{where}: module {name} misses required variables {sorted(missing)}"
            depends[name] = {m for m, _ in REFERENCE.findall(str(call))}
        for called, output in REFERENCE.findall(module.text):
            assert called in module.calls, f"{where}: module.{called} is not declared"
            target = modules[(path / unquote(module.calls[called]["source"])).resolve()]
            assert output in target.outputs, f"{where}: module {called} has no output {output}"
        assert_acyclic(depends, str(where))


def assert_acyclic(depends: dict[str, set[str]], where: str) -> None:
    """Module calls form a DAG: no module waits on itself through others."""
    state: dict[str, str] = {}

    def visit(name: str, trail: tuple[str, ...]) -> None:
        assert state.get(name) != "open", f"{where}: module cycle {' -> '.join((*trail, name))}"
        if state.get(name) == "done":
            return
        state[name] = "open"
        for dep in depends[name]:
            visit(dep, (*trail, name))
        state[name] = "done"

    for name in depends:
        visit(name, ())


def _resources(kind: str) -> list[dict[str, Any]]:
    return [r for m in load_modules().values() for r in m.resources.get(kind, [])]


def test_terraform_declares_the_deployment_the_issue_names():
    root = load_modules()[TERRAFORM.resolve()]
    assert set(root.calls) >= {
        "encryption", "storage", "ingestion", "messaging", "secrets", "stats", "network", "warehouse",
        "compute", "orchestration",
    }  # fmt: skip
    storage = load_modules()[(TERRAFORM / "modules" / "storage").resolve()]
    assert set(storage.calls) == {"landing", "lake", "stage", "dags"}
    assert "expiry_days" in storage.calls["stage"]  # stage files expire
    bucket = load_modules()[(TERRAFORM / "modules" / "bucket").resolve()].text
    for required in ('sse_algorithm     = "aws:kms"', 'status = "Enabled"', "block_public_policy     = true"):
        assert required in bucket
    # ingestion: IoT rule -> Kinesis (24 h by default) -> Firehose with the arrival-hour prefix and an error prefix
    assert _resources("aws_iot_topic_rule")[0]["kinesis"]
    variables = root.variables
    assert variables["kinesis_retention_hours"]["default"] == 24
    (sensors,) = [
        f for f in _resources("aws_kinesis_firehose_delivery_stream") if "kinesis_source_configuration" in f
    ]
    s3 = sensors["extended_s3_configuration"][0]
    assert s3["prefix"] == '"${var.landing_prefix}/sensors/!{timestamp:yyyy/MM/dd/HH}/"'
    assert s3["error_output_prefix"].startswith('"${var.landing_prefix}/errors/sensors/')  # outside sensors/
    assert unquote(s3["compression_format"]) == "GZIP"
    assert "firehose_buffer_seconds >= 60 && var.firehose_buffer_seconds <= 900" in str(
        variables["firehose_buffer_seconds"]
    )
    assert "firehose_buffer_mb >= 1 && var.firehose_buffer_mb <= 128" in str(variables["firehose_buffer_mb"])
    # messaging: two topics, a dead-letter queue behind every subscription, work orders delivered by Firehose
    subscriptions = _resources("aws_sns_topic_subscription")
    assert {unquote(s["protocol"]) for s in subscriptions} == {"sqs", "firehose"}
    assert all("deadLetterTargetArn" in str(s["redrive_policy"]) for s in subscriptions)
    (work_orders,) = [f for f in _resources("aws_kinesis_firehose_delivery_stream") if f != sensors]
    assert "/workorders/!{timestamp:yyyy/MM/dd/HH}/" in work_orders["extended_s3_configuration"][0]["prefix"]
    (table,) = _resources("aws_dynamodb_table")
    assert table["ttl"][0]["enabled"] is True
    for kind in (
        "aws_secretsmanager_secret", "aws_redshiftserverless_workgroup", "aws_emrserverless_application",
        "aws_mwaa_environment", "aws_kms_key",
    ):  # fmt: skip
        assert _resources(kind), kind
    # one IAM role per component, none with a managed policy attached wholesale
    roles = _resources("aws_iam_role")
    assert len(roles) >= 7
    assert not _resources("aws_iam_role_policy_attachment")
    # the outputs feed the app's settings
    outputs = set(root.outputs)
    assert {
        "landing_uri",
        "lake_uri",
        "stage_uri",
        "keyring_secret_arn",
        "warehouse_url",
        "stats_table",
    } <= outputs
    assert {"alarm_topic_arn", "wenulake_settings"} <= outputs


def test_checkov_passes_with_zero_failed_checks_and_every_skip_justified():
    if not CHECKOV.exists():
        pytest.fail("checkov is not installed: run `make checkov-venv` (make test does it)")
    skips = [(tf, m) for tf in TERRAFORM.rglob("*.tf") for m in SKIP.finditer(tf.read_text())]
    for tf, match in skips:
        assert len(match.group(2).strip()) >= 30, (
            f"{tf.relative_to(ROOT)}: {match.group(1)} skipped without a reason"
        )
    done = subprocess.run(
        [str(CHECKOV), "--directory", str(TERRAFORM), "--framework", "terraform",
         "--download-external-modules", "false", "--skip-download", "--output", "json", "--quiet", "--compact"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    report = json.loads(done.stdout)
    report = report[0] if isinstance(report, list) else report
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in report["results"]["failed_checks"]
    ]
    assert not failed, "checkov failed checks:\n" + "\n".join(failed)
    summary = report["summary"]
    assert summary["parsing_errors"] == 0
    # the local modules were followed: their resources were scanned too
    assert summary["resource_count"] >= 80, summary
    assert summary["passed"] >= 300, summary
    assert done.returncode == 0, done.stderr[-2000:]


def test_readme_documents_every_setting_the_terraform_outputs_feed():
    root = load_modules()[TERRAFORM.resolve()]
    parsed = hcl2.loads((TERRAFORM / "main.tf").read_text())
    fed = set(next(block["settings"] for block in parsed["locals"] if "settings" in block))
    assert "WENULAKE_LANDING" in fed
    assert "${local.settings}" in root.outputs["wenulake_settings"]["value"]
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Settings in AWS", 1)[1].split("\n## ", 1)[0]
    rows = {
        m
        for line in section.splitlines()
        if line.startswith("| `")
        for m in re.findall(r"`(WENULAKE_\w+)`", line.split(" | ")[0])
    }
    assert fed <= rows, f"not in the README's cloud settings table: {sorted(fed - rows)}"
    from wenulake.settings import Settings

    fields = {f"WENULAKE_{name.upper()}" for name in Settings.model_fields}
    assert rows <= fields, f"not settings: {sorted(rows - fields)}"


# -- exposure and secrets of the local stack (issue 18) ------------------------------------------------------
REQUIRED_VAR = re.compile(r"\$\{([A-Z][A-Z0-9_]*):\?[^}]+\}")


def _compose_values(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for value in node.values() for v in _compose_values(value)]
    if isinstance(node, list):
        return [v for value in node for v in _compose_values(value)]
    return [str(node)]


def test_compose_publishes_every_port_on_the_loopback_interface_only():
    services = compose()["services"]
    published = {name: [str(p) for p in s.get("ports", [])] for name, s in services.items()}
    assert any(published.values())
    for name, ports in published.items():
        for port in ports:
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"
            assert port.split(":")[-1] != "7077", f"{name}: the Spark master port must not be published"


def test_compose_secrets_come_from_the_env_file_with_no_default():
    text = COMPOSE.read_text()
    assert ":-" not in re.sub(r"#.*", "", text), "no ${VAR:-default}: a secret must have no default"
    doc = compose()
    envs = [doc["x-wenulake-env"], *(s.get("environment", {}) for s in doc["services"].values())]
    for env in envs:
        for key, value in env.items():
            value = str(value)
            if re.search(r"PASSWORD|SECRET", key) and not key.startswith(("AWS_", "AIRFLOW__CORE__SIMPLE")):
                assert REQUIRED_VAR.fullmatch(value), f"{key} is hard-coded"
            userinfo = re.match(r"^[a-z+]+://([^@/]*)@", value)
            if userinfo and ":" in userinfo.group(1):
                password = userinfo.group(1).split(":", 1)[1]
                assert REQUIRED_VAR.fullmatch(password), f"{key}: a password is written in the URL"
    referenced = {m.group(1) for v in _compose_values(doc) for m in REQUIRED_VAR.finditer(v)}
    assert {
        "POSTGRES_PASSWORD",
        "AIRFLOW_JWT_SECRET",
        "WAREHOUSE_READER_PASSWORD",
        "SPARK_AUTH_SECRET",
    } <= referenced
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", example, re.M))
    assert referenced <= documented, f"not in .env.example: {sorted(referenced - documented)}"
    for ignore in (".gitignore", ".dockerignore"):
        assert ".env" in (ROOT / ignore).read_text().split(), f".env must be in {ignore}"


def test_make_airflow_serves_on_the_loopback_interface():
    from wenulake.airflow_home import environment
    from wenulake.settings import Settings

    env = environment(Settings())
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://127.0.0.1:")


def test_only_the_firehose_roles_may_write_the_landing():
    root = load_modules()[TERRAFORM.resolve()]
    bucket = load_modules()[(TERRAFORM / "modules" / "bucket").resolve()].text
    assert '"OnlyTheWriterRolesPutObjects"' in bucket
    assert 'test     = "ArnNotEquals"' in bucket
    assert 'variable = "aws:PrincipalArn"' in bucket
    storage = load_modules()[(TERRAFORM / "modules" / "storage").resolve()]
    assert "writer_role_arns" in storage.calls["landing"]
    assert all("writer_role_arns" not in storage.calls[b] for b in ("lake", "stage", "dags"))
    # the role names the policy allows are the names the Firehose roles get
    assert root.calls["ingestion"]["firehose_role_name"] == '${local.firehose_role_names["sensors"]}'
    assert root.calls["messaging"]["firehose_role_name"] == '${local.firehose_role_names["work_orders"]}'
    for module in ("ingestion", "messaging"):
        text = load_modules()[(TERRAFORM / "modules" / module).resolve()].text
        assert "name               = var.firehose_role_name" in text, module
    assert "landing_writer_role_arns = local.landing_writer_role_arns" in root.text


def test_cloudtrail_records_the_keyring_reads_and_the_landing_writes():
    (trail,) = _resources("aws_cloudtrail")
    assert trail["is_multi_region_trail"] is True
    assert trail["enable_log_file_validation"] is True
    assert trail["kms_key_id"]
    selector = trail["event_selector"][0]
    assert selector["include_management_events"] is True  # GetSecretValue of the keyring
    assert unquote(selector["read_write_type"]) == "All"
    assert unquote(selector["data_resource"][0]["type"]) == "AWS::S3::Object"
    root = load_modules()[TERRAFORM.resolve()]
    assert "landing" in str(root.calls["audit"]["watched_bucket_arns"])


def test_the_compose_spark_cluster_requires_authentication():
    from wenulake.settings import Settings
    from wenulake.spark import auth_conf

    env = compose()["x-wenulake-env"]
    assert "-Dspark.authenticate=true" in env["SPARK_DAEMON_JAVA_OPTS"]
    assert "-Dspark.authenticate.secret=${SPARK_AUTH_SECRET:?" in env["SPARK_DAEMON_JAVA_OPTS"]
    assert REQUIRED_VAR.fullmatch(env["WENULAKE_SPARK_AUTH_SECRET"])
    assert auth_conf(Settings(spark_auth_secret="s")) == {
        "spark.authenticate": "true",
        "spark.authenticate.secret": "s",
    }
    assert auth_conf(Settings()) == {}


# -- EMR Serverless: what Terraform provisions and what the DAG sends agree (issue 16) ------------------------
_REF = re.compile(r"\$\{(local|var|aws_s3_object)\.([A-Za-z0-9_.]+)\}")


def _policy(parsed: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The statements of `data "aws_iam_policy_document" "<name>"`."""
    for block in parsed.get("data", []):
        for kind, named in block.items():
            for found, body in named.items():
                if unquote(kind) == "aws_iam_policy_document" and unquote(found) == name:
                    return body["statement"]
    raise AssertionError(f"no policy document {name}")


def _render(text: str, scope: dict[str, str]) -> str:
    """Substitute `${local.x}`, `${var.x}`, `${aws_s3_object.r.key}` from `scope` until none is left."""
    text = unquote(text)
    for _ in range(10):
        rendered = _REF.sub(lambda m: scope[f"{m[1]}.{m[2]}"], text)
        if rendered == text:
            return text
        text = rendered
    raise AssertionError(f"unresolved references in {text!r}")


def test_terraform_provisions_the_emr_job_runs_the_dag_submits():
    from fnmatch import fnmatch
    from importlib.metadata import version

    from wenulake import emr
    from wenulake.settings import Settings

    compute = TERRAFORM / "modules" / "compute"
    main = hcl2.loads((compute / "main.tf").read_text())
    outputs = load_modules()[compute.resolve()].outputs
    bucket = "wenulake-prod-dags"
    scope = {f"local.{k}": unquote(v) for k, v in main["locals"][0].items() if k != "__is_block__"}
    scope["var.code_bucket_name"] = bucket
    objects = {
        unquote(name): body
        for block in main["resource"]
        for kind, named in block.items()
        if unquote(kind) == "aws_s3_object"
        for name, body in named.items()
    }
    scope["aws_s3_object.package.key"] = objects["package"]["key"]
    settings = Settings(
        spark_mode="emr-serverless",
        emr_application_id="00fakeapplication",
        emr_job_role_arn="arn:aws:iam::123456789012:role/wenulake-prod-spark-job",
        **{
            f"emr_{name}": _render(outputs[name]["value"], scope)
            for name in ("jobs_uri", "py_files_uri", "python_env_uri", "log_uri")
        },
    )
    emr.check(settings)
    # every Spark step's entry point is uploaded from jobs/ to the key the DAG submits
    uploaded = set(re.findall(r'"(\w+)"', scope["local.entry_points"]))
    assert uploaded == set(emr.SPARK_STEPS.values())
    entry = objects["entry_point"]
    for job in emr.SPARK_STEPS.values():
        key = _render(entry["key"].replace("${each.key}", job), scope)
        assert emr.entry_point(settings, job) == f"s3://{bucket}/{key}"
        assert (ROOT / "jobs" / f"{job}.py").is_file()
        assert entry["source"].replace("${each.key}", job).endswith(f'{{var.jobs_dir}}/{job}.py"')
    # the archive sent as --py-files is the one `make package` builds, uploaded to that key
    package_key = _render(objects["package"]["key"], scope)
    assert settings.emr_py_files_uri == f"s3://{bucket}/{package_key}"
    params = emr.spark_submit_parameters(settings).split()
    assert params[:2] == ["--py-files", settings.emr_py_files_uri]
    root_vars = load_modules()[TERRAFORM.resolve()].variables
    assert unquote(root_vars["package_archive"]["default"]).endswith(
        f"dist/wenulake-{version('wenulake')}.zip"
    )
    # the job role reads the code and writes the logs at those keys, reads the data and the keyring
    statements = {unquote(s["sid"]): s for s in _policy(main, "job")}
    scope['var.bucket_arns["dags"]'] = f"arn:aws:s3:::{bucket}"
    dags_arn = scope['var.bucket_arns["dags"]']

    def arns(sid: str) -> list[str]:
        return [
            _render(r.replace('${var.bucket_arns["dags"]}', dags_arn), scope)
            for r in statements[sid]["resources"]
        ]

    code_keys = [emr.entry_point(settings, job) for job in emr.SPARK_STEPS.values()]
    code_keys += [settings.emr_py_files_uri, settings.emr_python_env_uri or ""]
    for uri in code_keys:
        arn = "arn:aws:s3:::" + uri.removeprefix("s3://")
        assert any(fnmatch(arn, pattern) for pattern in arns("ReadJobCode")), uri
    log_object = "arn:aws:s3:::" + (settings.emr_log_uri or "").removeprefix("s3://") + "run/driver/stdout.gz"
    assert any(fnmatch(log_object, pattern) for pattern in arns("WriteJobLogs"))
    text = json.dumps(statements)
    for needed in ('bucket_arns[\\"landing\\"]', 'bucket_arns[\\"lake\\"]', 'bucket_arns[\\"stage\\"]'):
        assert needed in text
    assert statements["ReadTheKeyring"]["resources"] == ["${var.keyring_secret_arn}"]
    # MWAA exports the settings from the compute module's outputs
    root = hcl2.loads((TERRAFORM / "main.tf").read_text())
    fed = next(block["settings"] for block in root["locals"] if "settings" in block)
    assert fed["WENULAKE_EMR_APPLICATION_ID"] == "${module.compute.application_id}"
    assert fed["WENULAKE_EMR_JOB_ROLE_ARN"] == "${module.compute.job_role_arn}"
    for name in ("jobs_uri", "py_files_uri", "python_env_uri", "log_uri"):
        assert fed[f"WENULAKE_EMR_{name.upper()}"] == f"${{module.compute.{name}}}"
    assert fed["WENULAKE_SPARK_MODE"] == "${var.spark_mode}"
    assert (
        unquote(root_vars["spark_mode"]["default"]) == "local"
    )  # EMR needs the packed Python environment first
    calls = load_modules()[TERRAFORM.resolve()].calls
    assert calls["compute"]["code_bucket_name"] == '${module.storage.bucket_names["dags"]}'
    assert calls["orchestration"]["spark_job_role_arn"] == "${module.compute.job_role_arn}"
    assert calls["orchestration"]["spark_application_arn"] == "${module.compute.application_arn}"
    # the Airflow role may do every call the provider's operator makes, and pass exactly the job role
    orchestration = hcl2.loads((TERRAFORM / "modules" / "orchestration" / "main.tf").read_text())
    policy = _policy(orchestration, "execution")
    submit = next(s for s in policy if unquote(s["sid"]) == "SubmitSparkJobs")
    actions = {unquote(a) for a in submit["actions"]}
    called = {"StartJobRun", "GetJobRun", "CancelJobRun", "GetApplication", "StartApplication"}
    assert {f"emr-serverless:{a}" for a in called} <= actions
    passing = next(s for s in policy if unquote(s["sid"]) == "PassTheSparkJobRole")
    assert passing["resources"] == ["${var.spark_job_role_arn}"]


def test_terraform_points_the_tasks_at_the_redshift_backend_and_its_copy_role():
    from wenulake.settings import Settings
    from wenulake.warehouse import backend
    from wenulake.warehouse.redshift_backend import RedshiftWarehouse

    root = hcl2.loads((TERRAFORM / "main.tf").read_text())
    fed = next(block["settings"] for block in root["locals"] if "settings" in block)
    url = unquote(fed["WENULAKE_WAREHOUSE_URL"])
    assert url.startswith("redshift://${module.warehouse.endpoint}:")  # no user: IAM temporary credentials
    rendered = re.sub(r"\$\{[^}]+\}", "x", url)
    assert isinstance(backend(Settings(warehouse_url=rendered)), RedshiftWarehouse)
    assert fed["WENULAKE_WAREHOUSE_COPY_ROLE"] == "${module.warehouse.copy_role_arn}"
    warehouse = hcl2.loads((TERRAFORM / "modules" / "warehouse" / "main.tf").read_text())
    reads = next(s for s in _policy(warehouse, "copy") if unquote(s["sid"]) == "ReadStageFiles")
    assert reads["resources"] == ['"${var.stage_bucket_arn}/*"']
    outputs = load_modules()[(TERRAFORM / "modules" / "warehouse").resolve()].outputs
    assert outputs["copy_role_arn"]["value"] == "${aws_iam_role.copy.arn}"


def test_mwaa_exports_no_warehouse_password_and_loads_as_a_non_admin_iam_user():
    root = load_modules()[TERRAFORM.resolve()]
    orchestration = load_modules()[(TERRAFORM / "modules" / "orchestration").resolve()]
    warehouse = load_modules()[(TERRAFORM / "modules" / "warehouse").resolve()]
    (startup,) = orchestration.resources["aws_s3_object"]
    script = str(startup["content"])
    for leak in ("PGPASSWORD", "secretsmanager", "password\\"):
        assert leak not in script, leak
    # the execution role cannot read the admin secret; it gets temporary credentials of IAMR:<its name>
    assert "warehouse_secret_arn" not in orchestration.text
    assert "redshift-serverless:GetCredentials" in orchestration.text
    assert "name               = var.execution_role_name" in orchestration.text
    assert root.calls["orchestration"]["execution_role_name"] == "${local.airflow_role_name}"
    assert root.calls["warehouse"]["loader_role_name"] == "${local.airflow_role_name}"
    assert "admin_username" not in root.text.split("WENULAKE_WAREHOUSE_URL", 1)[1].split("\n", 1)[0]
    assert "WENULAKE_WAREHOUSE_IAM_WORKGROUP = module.warehouse.workgroup_name" in root.text
    # the admin only creates the group roles and users, once, through the Data API
    statements = [str(s["sql"]) for s in warehouse.resources["aws_redshiftdata_statement"]]
    assert any("create role ${each.key}" in s for s in statements)
    assert any("grant role ${each.value} to" in s for s in statements)
    assert 'loader_user  = "IAMR:${var.loader_role_name}"' in warehouse.text
    assert '"wenulake_loader"' in warehouse.text
    assert '"wenulake_reader"' in warehouse.text
    assert "redshift-serverless:GetCredentials" in warehouse.text  # the analysts' reader policy


def test_the_catalog_service_task_may_rewrite_the_keyring_it_provisions_and_nothing_else():
    """Device provisioning in the cloud: the ECS task role allows every Secrets Manager call wenulake/keystore.py
    makes, on the keyring secret only, and the KMS use only through Secrets Manager."""
    service = hcl2.loads((TERRAFORM / "modules" / "catalog_service" / "main.tf").read_text())
    statements = _policy(service, "task")
    source = (ROOT / "wenulake" / "keystore.py").read_text()
    calls = set(re.findall(r"client\.(\w+_secret\w*)\(", source))
    needed = {"secretsmanager:" + "".join(w.title() for w in call.split("_")) for call in calls}
    assert needed >= {"secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"}
    granted: dict[str, set[str]] = {}
    for statement in statements:
        for action in statement["actions"]:
            granted.setdefault(unquote(action), set()).update(unquote(r) for r in statement["resources"])
    for action in needed:
        assert granted.get(action) == {"${var.keyring_secret_arn}"}, (action, granted.get(action))
    assert not any(a.startswith("secretsmanager:") and a not in needed | {"secretsmanager:DescribeSecret"}
                   for a in granted)  # fmt: skip
    [kms] = [s for s in statements if "kms:GenerateDataKey" in [unquote(a) for a in s["actions"]]]
    assert unquote(kms["condition"][0]["variable"]) == "kms:ViaService"
    root = load_modules()[TERRAFORM.resolve()]
    assert "module.secrets.keyring_secret_arn" in str(root.calls["catalog_service"]["keyring_secret_arn"])
