"""docker-compose.yml and infra/terraform/ are validated by parsing (no Docker engine, no Terraform binary)."""

from pathlib import Path

import hcl2
import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_compose_services_say_what_they_run():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "s3", "spark-master", "spark-worker"} <= set(services)
    assert {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor"} <= set(services)
    for name, service in services.items():
        assert "image" in service or "build" in service, name
    assert services["spark-worker"]["command"][-1] == "spark://spark-master:7077"


def test_terraform_parses_and_every_variable_and_output_is_described():
    folder = ROOT / "infra" / "terraform"
    parsed = {path.name: hcl2.loads(path.read_text()) for path in folder.glob("*.tf")}
    assert {"main.tf", "variables.tf", "outputs.tf", "versions.tf"} <= set(parsed)
    for block in parsed["variables.tf"]["variable"]:
        for name, body in block.items():
            assert body.get("description"), name
            assert body.get("type"), name
    for block in parsed["outputs.tf"]["output"]:
        for name, body in block.items():
            assert body.get("description"), name
    resources = [next(iter(r)).strip('"') for r in parsed["main.tf"]["resource"]]
    for required in (
        "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_versioning",
        "aws_s3_bucket_public_access_block",
    ):
        assert required in resources
