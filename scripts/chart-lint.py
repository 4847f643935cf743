"""Lint charts/cims with the Helm library (helm-sdkpy, Python >= 3.12), in several value sets.

helm lint renders every template, so template errors fail it. Usage:
    PYTHON_WITH_HELM scripts/chart-lint.py [CHART]
Prints one line per value set; exits 1 when any has errors.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

import helm_sdkpy
import yaml

VARIANTS = {
    "defaults": {},
    "namespaced": {"watchNamespaces": ["team-a", "team-b"]},
    "existing-claim+monitor": {
        "sharedVolume": {"existingClaim": "cims-db"},
        "metrics": {"port": 9090, "serviceMonitor": {"enabled": True}},
    },
    "placement": {
        "scans": {
            "nodeSelector": {"net": "internal"},
            "tolerations": [{"key": "internal", "operator": "Exists"}],
        }
    },
}


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


async def main(chart: Path) -> int:
    config = helm_sdkpy.Configuration(namespace="cims")
    failed = 0
    base = yaml.safe_load((chart / "values.yaml").read_text())
    for name, extra in VARIANTS.items():
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "cims"
            shutil.copytree(chart, copy)
            (copy / "values.yaml").write_text(yaml.safe_dump(_merge(base, extra)))
            result = await helm_sdkpy.Lint(config).run(str(copy))
        errors = [m for m in result.get("Messages") or [] if m.get("Severity", 0) >= 3]
        where = ", ".join(m["Path"] for m in errors)
        print(f"{name}: ok" if not errors else f"{name}: {len(errors)} errors in {where}")
        failed += bool(errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(Path(sys.argv[1] if len(sys.argv) > 1 else "charts/cims"))))
