"""``cims-operator``: run the kopf operator (cluster-wide, or the namespaces configured).

``--standalone``: no peering (the chart's one replica). Otherwise kopf's peering decides which
operator acts: ``--peering NAME`` (the KopfPeering / ClusterKopfPeering object, default
"default") and ``--priority N`` (the highest live priority acts; equal ones all pause)."""

from __future__ import annotations

import argparse
import getpass
import os
import secrets
import socket
import sys
import time

import kopf

from cims.k8s import handlers


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cims-operator", description=__doc__)
    parser.add_argument("--standalone", action="store_true", help="no peering: one replica")
    parser.add_argument("--peering", metavar="NAME", help="kopf's peering object to join")
    parser.add_argument("--priority", type=int, default=0, help="peering priority (0)")
    parser.add_argument("--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.standalone and args.peering:
        _parser().error("--standalone and --peering exclude each other: pick one")
    # kopf takes its peering identity from POD_ID when set; setting it here lets CIMS's own
    # poller know which keepalive in the peering object is its own (the chart sets the pod name).
    os.environ.setdefault(
        "POD_ID",
        f"{getpass.getuser()}@{socket.gethostname()}/{time.strftime('%Y%m%d%H%M%S')}"
        f"/{secrets.token_hex(2)}",
    )
    namespaces = handlers.CONFIG.namespaces
    kopf.configure(verbose=args.verbose)
    kopf.run(
        clusterwide=not namespaces,
        namespaces=list(namespaces),
        standalone=args.standalone,
        peering_name=args.peering,
        priority=args.priority,
        liveness_endpoint="http://0.0.0.0:8080/healthz",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
