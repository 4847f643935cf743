"""Property test: real reports, mutated, make parsers raise nothing but our InputError."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from cims.errors import InputError
from cims.scanners.registry import load_json, parse_report
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import FIXTURES, fixture_files

SMALL = [p for p in fixture_files() if p.stat().st_size < 60_000 and p.suffix == ".json"]
DOCS = [(p.parent.name, json.loads(p.read_bytes())) for p in SMALL]
REPLACEMENTS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.just([]),
    st.just({}),
    st.just([1, "x", None]),
    st.just({"a": [None]}),
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:3]):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(doc: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    if not path:
        return value
    doc = json.loads(json.dumps(doc))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if delete and isinstance(parent, dict):
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = value
    return doc


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_reports_raise_only_input_errors(data: st.DataObject) -> None:
    tool, doc = data.draw(st.sampled_from(DOCS))
    path = data.draw(st.sampled_from(_paths(doc)))
    value = data.draw(REPLACEMENTS)
    delete = data.draw(st.booleans())
    mutated = _mutate(doc, path, value, delete)
    forced = data.draw(st.sampled_from([None, tool]))
    with contextlib.suppress(InputError):
        parse_report(json.dumps(mutated).encode(), "mutated.json", forced)


@settings(max_examples=100, deadline=None)
@given(cut=st.integers(min_value=0, max_value=10_000), which=st.integers(0, len(SMALL) - 1))
def test_truncated_reports_raise_input_errors(cut: int, which: int) -> None:
    data = Path(SMALL[which]).read_bytes().rstrip()
    data = data[: min(cut, len(data) - 1)]  # at least the closing bracket is gone
    try:
        parse_report(data, "cut.json")
    except InputError:
        return
    raise AssertionError("a truncated JSON file parsed")  # pragma: no cover


def test_what_orjson_refuses_the_standard_library_still_reads() -> None:
    """Reports are decoded with orjson; NaN, integers beyond 64 bits and UTF-16 fall back."""
    path = FIXTURES / "grype" / "dd-busybox-1.32.1-epss.json"
    text = path.read_text()
    expected, _ = parse_report(text.encode(), "utf-8.json")
    assert parse_report(text.encode("utf-16"), "utf-16.json")[0] == expected
    huge = text.replace('"matches"', '"cimsHuge": 123456789012345678901234567890, "matches"', 1)
    assert parse_report(huge.encode(), "huge.json")[0].findings == expected.findings
    assert load_json(b'{"score": NaN}', "nan.json")["score"] != 0  # NaN is not equal to itself
    with pytest.raises(InputError, match=r"bad\.json: not valid JSON at line 1 column 9"):
        load_json(b'{"a": 1,,}', "bad.json")
