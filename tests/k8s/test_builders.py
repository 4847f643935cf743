"""Pure builders: the CRD file, the examples, the Job (golden YAML), status size."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cims.k8s.config import OperatorConfig, from_env
from cims.k8s.jobs import build_job, job_name, scan_id
from cims.k8s.policy import crd as policy_crd
from cims.k8s.resource import ImageScanSpec, Placement, crd
from cims.k8s.status import complete
from cims.model import ImageRef
from cims.report.model import build
from cims.scanners.registry import parse_file
from cims.store.db import Store
from pydantic import ValidationError

from tests.conftest import FIXTURES, SHARED

ROOT = Path(__file__).parents[2]
GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("generate", [crd, policy_crd], ids=["imagescans", "clusterscanpolicies"])
def test_crd_file_is_the_generated_one(generate: Callable[[], dict[str, Any]]) -> None:
    doc = generate()
    text = (ROOT / "crds" / f"{doc['metadata']['name']}.yaml").read_text()
    assert yaml.safe_load(text) == doc, "crds/ is stale: run scripts/gen-crds"


@pytest.mark.parametrize(
    "path", sorted((ROOT / "examples").glob("*imagescan*.yaml")), ids=lambda p: p.name
)
def test_examples_are_valid_imagescans(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    assert doc["apiVersion"] == "cims.dev/v1alpha1"
    spec = ImageScanSpec.model_validate(doc["spec"])
    spec.image_ref()


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ({"image": "x:1", "tools": ["snyk"]}, "tools.0"),
        ({"image": "x:1", "digest": "sha256:12"}, "digest"),
        ({"image": "x:1", "timeout": 10}, "timeout"),
        ({"image": "x:1", "rescanInterval": "soon"}, "rescanInterval"),
        ({"image": "x:1", "surprise": True}, "surprise"),
    ],
)
def test_invalid_specs_are_refused(spec: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        ImageScanSpec.model_validate(spec)


def _job() -> dict[str, object]:
    doc = yaml.safe_load((ROOT / "examples" / "02-imagescan-full.yaml").read_text())
    spec = ImageScanSpec.model_validate(doc["spec"])
    config = OperatorConfig(
        image="registry.example/cims:1.0",
        placement=Placement(nodeSelector={"default": "pool"}, imagePullSecrets=[{"name": "pull"}]),
    )
    sid = scan_id("team", "payments", "0b7e-uid", 3, 0)
    return build_job(
        name="payments", namespace="team", uid="0b7e-uid", spec=spec, sid=sid, config=config
    )


def test_job_matches_golden_yaml() -> None:
    golden = GOLDEN / "job-payments.yaml"
    assert _job() == yaml.safe_load(golden.read_text()), (
        "regenerate with: python -c 'from tests.k8s.test_builders import write_golden; "
        "write_golden()'"
    )


def write_golden() -> None:  # pragma: no cover - a maintenance helper
    GOLDEN.mkdir(exist_ok=True)
    (GOLDEN / "job-payments.yaml").write_text(yaml.safe_dump(_job(), sort_keys=False))


def test_job_names_are_deterministic_and_short() -> None:
    a = scan_id("ns", "name", "uid", 1, 0)
    assert a == scan_id("ns", "name", "uid", 1, 0)
    assert a != scan_id("ns", "name", "uid", 2, 0)
    assert a != scan_id("ns", "name", "uid", 1, 1)
    assert len(job_name("x" * 200, a)) <= 63


def test_operator_config_errors_name_the_variable() -> None:
    from cims.errors import InputError

    with pytest.raises(InputError, match="CIMS_OPERATOR_MAX_RUNNING"):
        from_env({"CIMS_OPERATOR_MAX_RUNNING": "zero"})
    assert from_env({"CIMS_OPERATOR_NAMESPACES": "a, b"}).namespaces == ("a", "b")


def test_status_stays_small_for_the_largest_report(tmp_path: Path) -> None:
    path = FIXTURES / "grype" / "dd-defectdojo-django-1.13.1-debian10.json"
    lichtiix = SHARED / "grype" / "lichtiix-grype-0.104.2-cicd-app-ubuntu2204.json.gz"
    paths = [path] + ([lichtiix] if lichtiix.exists() else [])
    for i, report_path in enumerate(paths):
        report, sha = parse_file(report_path)
        with Store(tmp_path / f"{i}.db") as store:
            row, _ = store.import_reports(ImageRef.parse(f"big/app{i}:1"), [(report, sha, "r")])
            rep = build(store, row)
        status = complete(
            rep,
            generation=1,
            scan_id="s",
            db="/shared/cims.db",
            top_n=50,
            fail_on="high",
            started_at=None,
        )
        size = len(json.dumps(status))
        assert rep.summary.findings > 100
        assert status["findingsShown"] == 50
        assert size < 64 * 1024, size  # far under the 1.5 MiB object limit
