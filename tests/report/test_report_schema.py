"""The JSON report validates against the documented, versioned schema in docs/."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from cims.cli.demo_cmd import SETS, run_set
from cims.report.json_report import render
from cims.report.model import json_schema

SCHEMA_FILE = Path(__file__).parents[2] / "docs" / "report-schema.json"


def test_docs_schema_is_the_generated_one() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == json_schema(), (
        "docs/report-schema.json is stale: regenerate with "
        "`cims report --schema > docs/report-schema.json`"
    )


def test_demo_report_validates(tmp_path: Path) -> None:
    report = run_set(SETS[0], tmp_path / "d.db")
    doc = json.loads(render(report))
    jsonschema.validate(doc, json.loads(SCHEMA_FILE.read_text()))
    assert doc["summary"]["by_severity"]["MEDIUM"] == sum(
        1 for f in doc["findings"] if f["severity"] == "MEDIUM"
    )
