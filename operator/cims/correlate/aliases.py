"""Alias groups: the transitive union of identifiers that some source declares equal.

A CVE is the anchor of a group. Advisories that cover several CVEs at once (a DSA, USN or RHSA
often does) would chain different CVEs together; an edge that would put two different CVEs in one
group is refused and recorded, so two different CVEs never merge.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from cims.model import is_cve

# Which id names a group when it holds no CVE: the first prefix that matches wins.
_PREFERENCE = ("CVE-", "GHSA-", "GO-", "PYSEC-", "RUSTSEC-", "OSV-")


def _rank(vid: str) -> tuple[int, str]:
    for i, prefix in enumerate(_PREFERENCE):
        if vid.upper().startswith(prefix):
            return i, vid
    return len(_PREFERENCE), vid


@dataclass
class AliasGraph:
    """Union-find over vulnerability ids, keeping at most one CVE per group."""

    parent: dict[str, str] = field(default_factory=dict)
    cve: dict[str, str] = field(default_factory=dict)  # root -> its CVE
    evidence: dict[tuple[str, str], str] = field(default_factory=dict)  # edge -> who said so
    refused: list[tuple[str, str, str]] = field(default_factory=list)

    def find(self, vid: str) -> str:
        parent = self.parent.setdefault(vid, vid)
        if parent == vid:
            if is_cve(vid):
                self.cve.setdefault(vid, vid)
            return vid
        root = self.find(parent)
        self.parent[vid] = root
        return root

    def link(self, a: str, b: str, source: str) -> bool:
        """Declare ``a`` and ``b`` the same vulnerability (``source`` says who declared it)."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        ca, cb = self.cve.get(ra), self.cve.get(rb)
        if ca and cb and ca != cb:
            self.refused.append((a, b, source))
            return False
        keep, drop = sorted((ra, rb), key=_rank)
        self.parent[drop] = keep
        if ca or cb:
            self.cve[keep] = ca or cb or ""
        self.evidence[(a, b)] = source
        return True

    def add_edges(self, edges: Iterable[tuple[str, str, str]]) -> None:
        # Deterministic whatever the import order: edges are applied sorted.
        for a, b, source in sorted(edges):
            self.link(a, b, source)

    def group_id(self, vid: str) -> str:
        """The id that names ``vid``'s group: its CVE, else the most canonical id in it."""
        root = self.find(vid)
        return self.cve.get(root) or root

    def path(self, a: str, b: str) -> list[str]:
        """Evidence that links ``a`` and ``b``: the declarations on the way (for explanations)."""
        if a == b:
            return []
        out = []
        for (x, y), source in sorted(self.evidence.items()):
            if {x, y} & {a, b} and self.find(x) == self.find(a):
                out.append(f"{x} = {y} ({source})")
        return out
