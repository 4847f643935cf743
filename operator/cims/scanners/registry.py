"""Which parser reads a report: auto-detection, or the user's ``--tool``."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import orjson

from cims.errors import InputError
from cims.model import ParsedReport
from cims.scanners import (
    anchore,
    aqua,
    clair,
    cyclonedx,
    grype,
    prisma_api,
    sarif,
    snyk,
    trivy,
    twistlock,
    va,
)
from cims.scanners.interface import ReportParser, make_cvss

# Order matters only where shapes overlap; the most specific checks come first.
PARSERS: tuple[ReportParser, ...] = (
    sarif.PARSER,
    cyclonedx.PARSER,
    trivy.PARSER,
    grype.PARSER,
    twistlock.PARSER,
    prisma_api.PARSER,
    aqua.PARSER,
    va.PARSER,
    clair.PARSER,
    anchore.PARSER,
    snyk.PARSER,
)
TOOLS: tuple[str, ...] = tuple(dict.fromkeys(p.tool for p in PARSERS if p.tool))


def detect_parser(doc: Any) -> ReportParser | None:
    for parser in PARSERS:
        if parser.detect(doc):
            return parser
    return None


def load_json(data: bytes, source: str) -> Any:
    """Decode a report's bytes (gzip allowed); a truncated or non-JSON file is an InputError."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as err:
            raise InputError(f"{source}: broken gzip file ({err})") from None
    if not data.strip():
        raise InputError(f"{source}: the file is empty; expected a scanner's JSON report")
    try:
        return orjson.loads(data)  # 2-3 times faster than json on large reports
    except orjson.JSONDecodeError:
        pass  # strict on NaN, integers beyond 64 bits, UTF-16: the standard library decides
    try:
        return json.loads(data)
    except UnicodeDecodeError:
        raise InputError(f"{source}: not text; expected a scanner's JSON report") from None
    except json.JSONDecodeError as err:
        truncated = err.msg.startswith("Unterminated") or err.pos >= len(data.rstrip()) - 1
        where = "truncated" if truncated else "not valid JSON"
        raise InputError(
            f"{source}: {where} at line {err.lineno} column {err.colno} ({err.msg}); "
            "expected a scanner's JSON report"
        ) from None


def parse_report(data: bytes, source: str, tool: str | None = None) -> tuple[ParsedReport, str]:
    """Parse one report; returns it with the sha256 of its bytes.

    With ``tool`` the report must be that tool's (a report of another tool is an error);
    without, the format is detected.
    """
    if tool is not None and tool not in TOOLS:
        raise InputError(f"unknown tool {tool!r}: valid tools are {', '.join(TOOLS)}")
    doc = load_json(data, source)
    found = detect_parser(doc)
    if tool is None:
        if found is None:
            hint = "it is empty" if doc in (None, [], {}) else "its shape is not one CIMS knows"
            raise InputError(
                f"{source}: cannot tell which scanner wrote this report ({hint}); "
                f"pass --tool ({', '.join(TOOLS)})"
            )
        parser = found
    elif found is not None and found.tool and found.tool != tool:
        raise InputError(
            f"{source}: this is a {found.tool} report, not {tool}; pass --tool {found.tool} "
            "or leave --tool out"
        )
    else:
        parser = found or next(p for p in PARSERS if p.tool == tool)
    make_cvss.cache_clear()  # shared ratings are reused within one report, not across reports
    try:
        report = parser.parse(doc)
    except RecursionError:
        raise InputError(f"{source}: the JSON nests too deeply to be a scanner report") from None
    if tool is not None and report.tool != tool:
        raise InputError(
            f"{source}: this {parser.report_format} report was written by "
            f"{report.tool}, not {tool}; pass --tool {report.tool}"
        )
    return report, hashlib.sha256(data).hexdigest()


def parse_file(path: Path, tool: str | None = None) -> tuple[ParsedReport, str]:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(f"cannot read report {str(path)!r}: {err.strerror}") from None
    return parse_report(data, path.name, tool)
