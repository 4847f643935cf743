"""The SQLite store: atomic imports, no-op re-imports, schema checks, concurrency, crashes."""

from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cims.errors import InputError, StoreError
from cims.model import ImageRef
from cims.scanners.registry import parse_file
from cims.store.db import Store
from cims.store.schema import SCHEMA_VERSION

from tests.conftest import FIXTURES

TWIST = FIXTURES / "twistlock" / "dd-twistcli-debian9-many.json"
TWIST2 = FIXTURES / "twistlock" / "dd-twistcli-debian9-with-packages.json"
IMAGE = ImageRef.parse(
    "debian9-app@sha256:f4c0503d26c8da0a04e6190c9d4f2a30f38958852b9fb80bcd2b819a7571e7f7"
)


def _parsed(path: Path) -> tuple[object, str, str]:
    report, sha = parse_file(path)
    return report, sha, path.name


def _counts(db: Path) -> tuple[int, ...]:
    conn = sqlite3.connect(db)
    try:
        return tuple(
            conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("images", "scans", "tool_runs", "raw_findings", "correlated")
        )
    finally:
        conn.close()


def test_import_correlates_and_reimport_is_a_no_op(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    with Store(db) as store:
        row, outs = store.import_reports(IMAGE, [_parsed(TWIST)])  # type: ignore[list-item]
        assert outs[0].findings == 5
        first = _counts(db)
        _, again = store.import_reports(IMAGE, [_parsed(TWIST)])  # type: ignore[list-item]
        assert again[0].tool_run_id is None
        assert again[0].duplicate_of == outs[0].tool_run_id
        assert _counts(db) == first
        store.import_reports(IMAGE, [_parsed(TWIST2)])  # type: ignore[list-item]
        items = store.correlated(row.id)
    # the second report repeats four of the five CVEs: they merge, the raw rows stay
    assert len(items) == 5
    assert _counts(db)[3] == 9
    with Store(db) as store:
        assert store.check() == []


def test_an_import_is_all_or_nothing(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    with Store(db) as store:
        store.import_reports(IMAGE, [_parsed(TWIST)])  # type: ignore[list-item]
    before = _counts(db)
    other_image, sha, name = _parsed(FIXTURES / "grype" / "dd-busybox-1.32.1-epss.json")
    with Store(db) as store, pytest.raises(InputError, match="report is of image digest"):
        store.import_reports(IMAGE, [_parsed(TWIST2), (other_image, sha, name)])  # type: ignore[list-item]
    assert _counts(db) == before


def test_a_failure_mid_write_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "c.db"
    with Store(db) as store:
        store.import_reports(IMAGE, [_parsed(TWIST)])  # type: ignore[list-item]
    before = _counts(db)

    def boom(*_: object) -> None:
        raise RuntimeError("disk gone")

    monkeypatch.setattr(Store, "_store_correlation", boom)
    with Store(db) as store, pytest.raises(RuntimeError):
        store.import_reports(IMAGE, [_parsed(TWIST2)])  # type: ignore[list-item]
    assert _counts(db) == before


def test_a_process_killed_mid_write_leaves_the_db_as_before(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    with Store(db) as store:
        store.import_reports(IMAGE, [_parsed(TWIST)])  # type: ignore[list-item]
    before = _counts(db)
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from cims.model import ImageRef
        from cims.scanners.registry import parse_file
        from cims.store.db import Store
        def die(*a, **k):
            os._exit(9)  # after the findings are written, before COMMIT
        Store._store_correlation = die
        report, sha = parse_file(Path({str(TWIST2)!r}))
        with Store(Path({str(db)!r})) as s:
            s.import_reports(ImageRef.parse({str(IMAGE)!r}), [(report, sha, "x")])
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], check=False)
    assert proc.returncode == 9
    assert _counts(db) == before
    with Store(db) as store:
        assert store.check() == []


def _import_one(args: tuple[str, str, str]) -> int:
    db, path, image = args
    report, sha = parse_file(Path(path))
    with Store(Path(db)) as store:
        _, outs = store.import_reports(ImageRef.parse(image), [(report, sha, Path(path).name)])
    return outs[0].findings


def test_concurrent_imports_from_many_processes_all_land(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    jobs = [
        (db, str(FIXTURES / "grype" / "dd-busybox-1.32.1-epss.json"), "busybox:1.32.1"),
        (db, str(FIXTURES / "grype" / "dd-defectdojo-django-1.13.1-debian10.json"), "dd:1"),
        (db, str(FIXTURES / "grype" / "dd-vulnerable-image-debian10-allfields.json"), "v:1"),
        (db, str(FIXTURES / "aqua" / "dd-aqua-api-v2-risks.json"), "juiceshop:latest"),
        (db, str(TWIST), str(IMAGE)),
        (db, str(FIXTURES / "grype" / "dd-ubuntu2004-redacted-fix-available.json"), "u:1"),
    ]
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        counts = pool.map(_import_one, jobs)
    assert _counts(Path(db))[2] == len(jobs)
    assert _counts(Path(db))[3] == sum(counts)


def test_corrupt_file_is_a_store_error(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="corrupt or not a CIMS SQLite file"):
        Store(db)
    assert db.read_bytes() == b"this is not sqlite" * 100


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this cims"):
        Store(db)


def test_schema_has_foreign_keys_and_wal(tmp_path: Path) -> None:
    with Store(tmp_path / "c.db") as store:
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_v1_database_is_migrated_on_open(tmp_path: Path) -> None:
    from cims.store.schema import MIGRATIONS

    db = tmp_path / "c.db"
    conn = sqlite3.connect(db)
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with Store(db) as store:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        store.import_reports(IMAGE, [_parsed(TWIST)])  # type: ignore[list-item]
        groups = dict(store.conn.execute("SELECT id, alias_group FROM vulnerabilities"))
        assert store.check() == []
    assert groups["CVE-2018-6485"] == "CVE-2018-6485"


def test_alias_groups_are_stored(tmp_path: Path) -> None:
    path = FIXTURES / "grype" / "dd-vulnerable-image-debian10-allfields.json"
    report, sha = parse_file(path)
    with Store(tmp_path / "c.db") as store:
        store.import_reports(ImageRef.parse("vulnerable-image:latest"), [(report, sha, path.name)])
        groups = dict(store.conn.execute("SELECT id, alias_group FROM vulnerabilities"))
    ghsa = next(f for f in report.findings if f.vuln_id.startswith("GHSA") and f.aliases)
    assert groups[ghsa.vuln_id] == ghsa.aliases[0]
