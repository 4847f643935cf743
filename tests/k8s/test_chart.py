"""The Helm chart's static checks and helm lint (test_chart_install.py installs it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

CHART = Path(__file__).parents[2] / "charts" / "cims"


def test_values_validate_against_the_schema() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.validate(values, schema)
    bad = {**values, "scans": {**values["scans"], "maxRunning": 0}}
    with pytest.raises(jsonschema.ValidationError, match="less than the minimum of 1"):
        jsonschema.validate(bad, schema)
    with pytest.raises(jsonschema.ValidationError, match="secretValue"):
        jsonschema.validate({**values, "secretValue": "x"}, schema)  # no secrets in values


def test_chart_crds_are_the_generated_ones() -> None:
    root = CHART.parents[1] / "crds"
    names = sorted(p.name for p in root.glob("*.yaml"))
    assert names == ["clusterscanpolicies.cims.dev.yaml", "imagescans.cims.dev.yaml"]
    assert sorted(p.name for p in (CHART / "crds").glob("*.yaml")) == names
    for name in names:
        assert (CHART / "crds" / name).read_text() == (root / name).read_text(), name


def test_every_value_is_in_the_chart_readme() -> None:
    readme = (CHART / "README.md").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for key, value in values.items():
        names = [key] if not isinstance(value, dict) else [f"{key}.{k}" for k in value]
        for name in names:
            assert name.split(".")[-1] in readme, name


def test_chart_lints_with_the_helm_library(tmp_path: Path) -> None:
    python = os.environ.get("CIMS_HELM_PYTHON")
    if not python or not Path(python).exists():
        pytest.skip("no Helm library: set CIMS_HELM_PYTHON to a Python >= 3.12 with helm-sdkpy")
    lint = CHART.parents[1] / "scripts" / "chart-lint.py"
    good = subprocess.run(
        [python, str(lint), str(CHART)], capture_output=True, text=True, check=False
    )
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.count(": ok") == 4
    broken = tmp_path / "cims"
    shutil.copytree(CHART, broken)
    with (broken / "templates" / "service.yaml").open("a") as fh:
        fh.write("{{ .Values.missing.deeper }}\n")
    bad = subprocess.run(
        [python, str(lint), str(broken)], capture_output=True, text=True, check=False
    )
    assert bad.returncode == 1
    assert "errors in templates/" in bad.stdout
