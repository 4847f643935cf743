"""kopf's peering rule, for the part of CIMS that kopf does not pause itself: the poller.

With peering (``cims-operator`` without ``--standalone``), every operator writes a keepalive
``{identity: {priority, lifetime, lastseen}}`` into the status of a KopfPeering (namespaced
mode) or ClusterKopfPeering (cluster-wide mode) object. kopf pauses its own handlers while
another live peer has a higher priority, or the same priority (a conflict: all of them
pause). The poller is CIMS's task, not kopf's, so it reads the same objects and follows the
same rule (kopf's ``process_peering_event``, kopf 1.45)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Peering:
    """How this operator takes part in kopf's peering (None of it when standalone)."""

    name: str
    priority: int
    clusterwide: bool
    namespaces: tuple[str, ...]  # where the KopfPeering objects are (namespaced mode)
    identity: str | None  # kopf's id of this operator when known (POD_ID), else None


def _alive(info: Mapping[str, Any], now: datetime) -> bool:
    seen = info.get("lastseen")
    if not isinstance(seen, str):
        return True  # kopf counts a peer without lastseen as seen now
    try:
        when = datetime.fromisoformat(seen.replace("Z", "+00:00"))
    except ValueError:
        return True
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when + timedelta(seconds=int(info.get("lifetime", 60))) > now


def paused_by(
    peers: Mapping[str, Any], priority: int, identity: str | None, now: datetime
) -> str | None:
    """Why kopf's rule pauses this operator given one peering object's status, or None.

    Without this operator's identity, it is assumed to be one of the live peers of its own
    priority (kopf writes its keepalive first thing): two or more of them are a conflict."""
    live = {
        peer: info
        for peer, info in peers.items()
        if isinstance(info, Mapping) and _alive(info, now) and peer != identity
    }
    higher = sorted(p for p, info in live.items() if int(info.get("priority", 0)) > priority)
    if higher:
        return f"peer {higher[0]} has a higher priority than {priority}"
    same = sorted(p for p, info in live.items() if int(info.get("priority", 0)) == priority)
    if len(same) > (0 if identity is not None else 1):
        return f"peer {same[-1]} has the same priority {priority} (kopf pauses them all)"
    return None
