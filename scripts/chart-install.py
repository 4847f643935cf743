"""Install charts/cims with the Helm library (helm-sdkpy, Python >= 3.12) into the cluster of
$KUBECONFIG: the tests point it at kmock, with HELM_DRIVER=memory (no release Secret).

Usage: PYTHON_WITH_HELM scripts/chart-install.py CHART NAMESPACE VALUES_JSON
Prints the release's status line; exits 1 with Helm's one-line error when the install fails.
"""

from __future__ import annotations

import asyncio
import json
import sys

import helm_sdkpy


async def main(chart: str, namespace: str, values: dict[str, object]) -> int:
    config = helm_sdkpy.Configuration(namespace=namespace)
    try:
        release = await helm_sdkpy.Install(config).run(
            "cims", chart, values=values, wait=False, timeout=60
        )
    except helm_sdkpy.HelmError as err:
        print(f"helm install failed: {str(err).splitlines()[0]}")
        return 1
    print(f"{release['name']}: {release['info']['status']}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))))
