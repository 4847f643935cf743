"""``cims-operator``: run the kopf operator (cluster-wide, or the namespaces configured)."""

from __future__ import annotations

import sys

import kopf

from cims.k8s import handlers


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    namespaces = handlers.CONFIG.namespaces
    kopf.configure(verbose="--verbose" in args)
    kopf.run(
        clusterwide=not namespaces,
        namespaces=list(namespaces),
        standalone="--standalone" in args,
        liveness_endpoint="http://0.0.0.0:8080/healthz",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
