"""Merge one image's raw findings into correlated findings that say why they merged."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field

from cims.correlate.aliases import AliasGraph
from cims.correlate.packages import OS_ECOSYSTEMS, identity, same_version, source_map, version_key
from cims.correlate.severity import DEFAULT_TOOL_ORDER, Policy, image_distro, resolve
from cims.model import Finding, Severity

_VAGUE_ECOSYSTEMS = frozenset({"unknown", "generic"})


class ToolView(BaseModel):
    """What one tool said about a correlated finding."""

    ids: list[str]
    severity: Severity
    packages: list[str]
    fixed_versions: list[str]


class Correlated(BaseModel):
    """One vulnerability in one package version of one image, with every tool that saw it."""

    vulnerability: str  # the alias group's name: its CVE when it has one
    ids: list[str]  # every id the tools used
    ecosystem: str
    package: str  # normalized identity name (the source package for distro packages)
    version: str
    packages: list[str]  # the names the tools used (binary packages for distros)
    tools: list[str]
    by_tool: dict[str, ToolView]
    severity: Severity
    severity_source: str
    policy: Policy
    fixed_versions: list[str]
    title: str | None = None
    single_tool: bool
    reasons: list[str] = Field(default_factory=list)
    members: list[int] = Field(default_factory=list)  # raw finding ids


def alias_edges(findings: Iterable[Finding]) -> list[tuple[str, str, str]]:
    """The alias declarations the findings carry: (id, alias, who declared it)."""
    return [(f.vuln_id, a, f"{f.tool}") for f in findings for a in f.aliases if a != f.vuln_id]


def correlate(
    rows: Sequence[tuple[int, Finding]],
    *,
    extra_edges: Iterable[tuple[str, str, str]] = (),
    policy: Policy = Policy.VENDOR,
    tool_order: Sequence[str] = DEFAULT_TOOL_ORDER,
) -> list[Correlated]:
    """Correlate one image's findings (raw id, finding). Deterministic for the same input."""
    findings = [f for _, f in rows]
    graph = AliasGraph()
    graph.add_edges([*alias_edges(findings), *extra_edges])
    sources = source_map(findings)
    idents = {rid: identity(f, sources) for rid, f in rows}
    known_names: dict[str, set[str]] = defaultdict(set)
    for eco, name in idents.values():
        if eco not in _VAGUE_ECOSYSTEMS:
            known_names[name].add(eco)
    buckets: dict[tuple[str, str, str], list[tuple[int, Finding, str]]] = defaultdict(list)
    notes: dict[int, str] = {}
    for rid, f in rows:
        eco, name = idents[rid]
        if eco in _VAGUE_ECOSYSTEMS and len(known_names.get(name, ())) == 1:
            eco = next(iter(known_names[name]))
            notes[rid] = f"{f.tool} did not name the ecosystem of {name}; matched it by name"
        buckets[(graph.group_id(f.vuln_id), eco, name)].append((rid, f, version_key(f)))
    ctx = _Context(graph, notes, policy, tool_order, image_distro(findings))
    out: list[Correlated] = []
    for key, members in sorted(buckets.items()):
        for cluster, why in _by_version(key[1], members):
            out.append(_build(key, cluster, why, ctx))
    out.sort(key=lambda c: (-c.severity.rank, c.vulnerability, c.package, c.version))
    return out


def _by_version(
    eco: str, members: list[tuple[int, Finding, str]]
) -> list[tuple[list[tuple[int, Finding, str]], list[str]]]:
    clusters: list[tuple[list[tuple[int, Finding, str]], list[str]]] = []
    for member in sorted(members, key=lambda m: (m[2], m[0])):
        for cluster, why in clusters:
            reason = same_version(eco, cluster[0][2], member[2])
            if reason:
                cluster.append(member)
                if reason != "same version" and reason not in why:
                    why.append(reason)
                break
        else:
            clusters.append(([member], []))
    return clusters


def _rank(severity: Severity) -> int:
    return severity.rank


@dataclass(frozen=True)
class _Context:
    graph: AliasGraph
    notes: dict[int, str]
    policy: Policy
    tool_order: Sequence[str]
    distro: str | None


def _build(
    key: tuple[str, str, str],
    cluster: list[tuple[int, Finding, str]],
    version_notes: list[str],
    ctx: _Context,
) -> Correlated:
    group, eco, name = key
    if len(cluster) == 1 and not version_notes:
        return _build_one(key, cluster[0], ctx)
    findings = [f for _, f, _ in cluster]
    # One pass gathers each tool's view (most rows have one member: keep this cheap).
    per_tool: dict[str, tuple[set[str], list[Severity], set[str], set[str]]] = {}
    for f in findings:
        view = per_tool.get(f.tool)
        if view is None:
            view = per_tool[f.tool] = (set(), [], set(), set())
        view[0].add(f.vuln_id)
        view[1].append(f.severity)
        view[2].add(f.package_name)
        view[3].update(f.fixed_versions)
    tools = sorted(per_tool)
    by_tool = {
        tool: ToolView(
            ids=sorted(per_tool[tool][0]),
            severity=max(per_tool[tool][1], key=_rank),
            packages=sorted(per_tool[tool][2]),
            fixed_versions=sorted(per_tool[tool][3]),
        )
        for tool in tools
    }
    ids = sorted(set().union(*(v[0] for v in per_tool.values())))
    severity, source = resolve(findings, ctx.policy, ctx.tool_order, ctx.distro)
    packages = sorted(set().union(*(v[2] for v in per_tool.values())))
    version = cluster[0][2]
    reasons = [f"key: {group} in {eco}:{name}@{version}"]
    if len(ids) > 1:
        evidence = sorted({e for i in ids for e in ctx.graph.path(i, group)})
        reasons.append(f"aliases {', '.join(ids)} linked by " + ("; ".join(evidence) or group))
    if eco in OS_ECOSYSTEMS and packages != [name]:
        reasons.append(f"binary packages {', '.join(packages)} of source package {name}")
    reasons.extend(version_notes)
    reasons.extend(sorted({ctx.notes[rid] for rid, _, _ in cluster if rid in ctx.notes}))
    if len(tools) == 1:
        reasons.append(f"reported by {tools[0]} only")
    title = next((f.title for t in tools for f in findings if f.tool == t and f.title), None)
    return Correlated(
        vulnerability=group,
        ids=ids,
        ecosystem=eco,
        package=name,
        version=version,
        packages=packages,
        tools=tools,
        by_tool=by_tool,
        severity=severity,
        severity_source=source,
        policy=ctx.policy,
        fixed_versions=sorted(set().union(*(v[3] for v in per_tool.values()))),
        title=title,
        single_tool=len(tools) == 1,
        reasons=reasons,
        members=sorted(rid for rid, _, _ in cluster),
    )


def _build_one(
    key: tuple[str, str, str], member: tuple[int, Finding, str], ctx: _Context
) -> Correlated:
    """_build for a cluster of one finding (most of them): the same result, less work."""
    group, eco, name = key
    rid, f, version = member
    severity, source = resolve((f,), ctx.policy, ctx.tool_order, ctx.distro)
    fixed = sorted(set(f.fixed_versions))
    reasons = [f"key: {group} in {eco}:{name}@{version}"]
    if eco in OS_ECOSYSTEMS and f.package_name != name:
        reasons.append(f"binary packages {f.package_name} of source package {name}")
    if rid in ctx.notes:
        reasons.append(ctx.notes[rid])
    reasons.append(f"reported by {f.tool} only")
    view = ToolView(
        ids=[f.vuln_id], severity=f.severity, packages=[f.package_name], fixed_versions=fixed
    )
    return Correlated(
        vulnerability=group,
        ids=[f.vuln_id],
        ecosystem=eco,
        package=name,
        version=version,
        packages=[f.package_name],
        tools=[f.tool],
        by_tool={f.tool: view},
        severity=severity,
        severity_source=source,
        policy=ctx.policy,
        fixed_versions=fixed,
        title=f.title or None,
        single_tool=True,
        reasons=reasons,
        members=[rid],
    )
