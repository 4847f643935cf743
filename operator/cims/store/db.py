"""Open, migrate, write and read the CIMS database.

Every write is one ``BEGIN IMMEDIATE`` transaction: an import lands whole or not at all, and a
crash mid-write leaves the database as it was. WAL and a busy timeout let many scan Jobs and
readers share one file.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cims.correlate.merge import Correlated, alias_edges, correlate
from cims.correlate.severity import Policy
from cims.errors import InputError, StoreError
from cims.model import Finding, ImageRef, ParsedReport, ToolRun
from cims.store.schema import MIGRATIONS, SCHEMA_VERSION

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
BUSY_TIMEOUT_MS = 60_000


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ImportOutcome:
    """What one report did to the database."""

    source: str
    tool: str
    tool_run_id: int | None  # None: the same report was imported before (no-op)
    findings: int
    skipped: tuple[str, ...]
    duplicate_of: int | None = None


@dataclass(frozen=True)
class ImageRow:
    id: int
    digest: str
    name: str
    tag: str | None
    image_id: str | None
    os: str | None
    last_seen: str


class Store:
    """One SQLite database file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except (OSError, sqlite3.Error) as err:
            raise StoreError(f"cannot open database {str(path)!r}: {err}") from None
        try:
            self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self.conn.execute("PRAGMA foreign_keys = ON")
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"database {str(path)!r} has schema v{version}, newer than this cims "
                    f"(v{SCHEMA_VERSION}); upgrade cims to read it"
                )
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = NORMAL")
            if version < SCHEMA_VERSION:
                self._migrate(version)
        except sqlite3.DatabaseError as err:
            self.conn.close()
            raise StoreError(
                f"database {str(path)!r} is corrupt or not a CIMS SQLite file ({err}); "
                "restore it from a backup or point --db at another file"
            ) from None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as err:
            raise StoreError(f"database {str(self.path)!r} is busy or read-only: {err}") from None
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    def _migrate(self, current: int) -> None:
        with self.transaction() as conn:
            # Re-read under the write lock: another process may have migrated meanwhile.
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            for number in range(current, SCHEMA_VERSION):
                for statement in MIGRATIONS[number]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number + 1}")

    # --- writes --------------------------------------------------------------------------

    def import_reports(
        self,
        image: ImageRef,
        reports: Sequence[tuple[ParsedReport, str, str]],
        *,
        kind: str = "import",
        runs: Sequence[ToolRun] = (),
        report_runs: Sequence[ToolRun | None] = (),
        policy: Policy = Policy.VENDOR,
    ) -> tuple[ImageRow, list[ImportOutcome]]:
        """Store (report, sha256, source) triples and extra tool runs as one scan; correlate.

        ``report_runs`` (aligned with ``reports``) are the runs that produced the reports, when
        CIMS ran the tools; ``runs`` are tool runs without a report (failed, not applicable).
        All or nothing: any error rolls the whole import back.
        """
        digest = resolve_digest(image, [r for r, _, _ in reports])
        outcomes: list[ImportOutcome] = []
        with self.transaction() as conn:
            image_pk = self._upsert_image(conn, image, digest, [r for r, _, _ in reports])
            scan_pk: int | None = None
            for i, (report, sha, source) in enumerate(reports):
                dup = conn.execute(
                    "SELECT id FROM tool_runs WHERE image_fk = ? AND report_sha256 = ?",
                    (image_pk, sha),
                ).fetchone()
                if dup:
                    outcomes.append(
                        ImportOutcome(source, report.tool, None, 0, (), duplicate_of=dup[0])
                    )
                    continue
                if scan_pk is None:
                    scan_pk = self._new_scan(conn, image_pk, kind)
                given = report_runs[i] if i < len(report_runs) else None
                run = given or ToolRun(
                    tool=report.tool,
                    tool_version=report.tool_version,
                    report_format=report.report_format,
                    report_sha256=sha,
                    source=source,
                )
                run_pk = self._insert_run(conn, scan_pk, image_pk, run, report)
                self._insert_findings(conn, run_pk, report)
                outcomes.append(
                    ImportOutcome(
                        source, report.tool, run_pk, len(report.findings), tuple(report.skipped)
                    )
                )
            for run in runs:
                if scan_pk is None:
                    scan_pk = self._new_scan(conn, image_pk, kind)
                self._insert_run(conn, scan_pk, image_pk, run, None)
            if scan_pk is not None:
                self._store_correlation(conn, image_pk, policy)
            row = self._image(conn, digest)
        return row, outcomes

    def _upsert_image(
        self,
        conn: sqlite3.Connection,
        image: ImageRef,
        digest: str,
        reports: Sequence[ParsedReport],
    ) -> int:
        now = _now()
        image_id = next((r.image_id for r in reports if r.image_id), None)
        os_name = next((r.os for r in reports if r.os), None)
        conn.execute(
            """INSERT INTO images (digest, name, tag, image_id, os, first_seen, last_seen)
               VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (digest) DO UPDATE SET
                 name = excluded.name, tag = COALESCE(excluded.tag, images.tag),
                 image_id = COALESCE(images.image_id, excluded.image_id),
                 os = COALESCE(images.os, excluded.os), last_seen = excluded.last_seen""",
            (digest, image.name, image.tag, image_id, os_name, now, now),
        )
        pk: int = conn.execute("SELECT id FROM images WHERE digest = ?", (digest,)).fetchone()[0]
        return pk

    def _new_scan(self, conn: sqlite3.Connection, image_pk: int, kind: str) -> int:
        cur = conn.execute(
            "INSERT INTO scans (image_fk, kind, created_at) VALUES (?, ?, ?)",
            (image_pk, kind, _now()),
        )
        return int(cur.lastrowid or 0)

    def _insert_run(
        self,
        conn: sqlite3.Connection,
        scan_pk: int,
        image_pk: int,
        run: ToolRun,
        report: ParsedReport | None,
    ) -> int:
        cur = conn.execute(
            """INSERT INTO tool_runs (scan_fk, image_fk, tool, tool_version, report_format, status,
                 message, duration_s, report_sha256, source, finding_count, skipped, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                scan_pk,
                image_pk,
                run.tool,
                run.tool_version,
                run.report_format,
                run.status,
                run.message,
                run.duration_s,
                run.report_sha256,
                run.source,
                len(report.findings) if report else 0,
                json.dumps(report.skipped if report else []),
                _now(),
            ),
        )
        return int(cur.lastrowid or 0)

    def _insert_findings(self, conn: sqlite3.Connection, run_pk: int, report: ParsedReport) -> None:
        findings = report.findings
        ids = {f.vuln_id for f in findings} | {a for f in findings for a in f.aliases}
        conn.executemany(
            "INSERT OR IGNORE INTO vulnerabilities (id) VALUES (?)", [(i,) for i in ids]
        )
        conn.executemany(
            "INSERT OR IGNORE INTO aliases (a, b, source) VALUES (?, ?, ?)", alias_edges(findings)
        )
        pkgs = {(f.package_type, f.package_name) for f in findings}
        conn.executemany("INSERT OR IGNORE INTO packages (ecosystem, name) VALUES (?, ?)", pkgs)
        pkg_ids = self._package_ids(conn, pkgs)
        raws = report.raw_records
        conn.executemany(
            """INSERT INTO raw_findings (tool_run_fk, vuln_fk, package_fk, installed_version,
                 severity, finding, raw) VALUES (?, ?, ?, ?, ?, ?, ?)""",
            [
                (
                    run_pk,
                    f.vuln_id,
                    pkg_ids[(f.package_type, f.package_name)],
                    f.installed_version,
                    f.severity.value,
                    f.model_dump_json(exclude_defaults=True),
                    json.dumps(raws[f.raw_index], separators=(",", ":"))
                    if f.raw_index < len(raws)
                    else "{}",
                )
                for f in findings
            ],
        )

    @staticmethod
    def _package_ids(
        conn: sqlite3.Connection, pkgs: set[tuple[str, str]]
    ) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        ecosystems = sorted({e for e, _ in pkgs})
        for eco in ecosystems:
            names = {n for e, n in pkgs if e == eco}
            for pk, name in conn.execute(
                "SELECT id, name FROM packages WHERE ecosystem = ?", (eco,)
            ):
                if name in names:
                    out[(eco, name)] = pk
        return out

    def _store_correlation(self, conn: sqlite3.Connection, image_pk: int, policy: Policy) -> None:
        conn.execute("DELETE FROM correlated WHERE image_fk = ?", (image_pk,))
        items = self._correlate(conn, image_pk, policy)
        conn.executemany(
            "UPDATE vulnerabilities SET alias_group = ? WHERE id = ?",
            [(item.vulnerability, vid) for item in items for vid in item.ids],
        )
        for item in items:
            cur = conn.execute(
                """INSERT INTO correlated (image_fk, vulnerability, ecosystem, package, version,
                     severity, tool_count, policy, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    image_pk,
                    item.vulnerability,
                    item.ecosystem,
                    item.package,
                    item.version,
                    item.severity.value,
                    len(item.tools),
                    item.policy.value,
                    item.model_dump_json(exclude={"members"}),
                ),
            )
            conn.executemany(
                "INSERT INTO correlated_members (correlated_fk, raw_fk) VALUES (?, ?)",
                [(cur.lastrowid, m) for m in item.members],
            )

    # --- reads ---------------------------------------------------------------------------

    def raw_findings(self, conn: sqlite3.Connection, image_pk: int) -> list[tuple[int, Finding]]:
        rows = conn.execute(
            """SELECT rf.id, rf.finding FROM raw_findings rf
               JOIN tool_runs tr ON tr.id = rf.tool_run_fk
               WHERE tr.image_fk = ? ORDER BY rf.id""",
            (image_pk,),
        )
        return [(pk, Finding.model_validate_json(data)) for pk, data in rows]

    def _correlate(
        self, conn: sqlite3.Connection, image_pk: int, policy: Policy
    ) -> list[Correlated]:
        rows = self.raw_findings(conn, image_pk)
        ids = {f.vuln_id for _, f in rows}
        # Alias declarations any report made, also in other images' reports.
        wanted = json.dumps(sorted(ids))
        edges = conn.execute(
            """SELECT a, b, source FROM aliases
               WHERE a IN (SELECT value FROM json_each(?1))
                  OR b IN (SELECT value FROM json_each(?1))""",
            (wanted,),
        ).fetchall()
        return correlate(rows, extra_edges=edges, policy=policy)

    def correlated(self, image_pk: int, policy: Policy | None = None) -> list[Correlated]:
        """The stored correlation, or one computed now under another ``policy``."""
        stored = self.conn.execute(
            "SELECT policy FROM correlated WHERE image_fk = ? LIMIT 1", (image_pk,)
        ).fetchone()
        if policy is not None and (stored is None or stored[0] != policy.value):
            return self._correlate(self.conn, image_pk, policy)
        out = []
        for pk, data in self.conn.execute(
            "SELECT id, data FROM correlated WHERE image_fk = ? ORDER BY id", (image_pk,)
        ):
            item = Correlated.model_validate_json(data)
            item.members = [
                m
                for (m,) in self.conn.execute(
                    "SELECT raw_fk FROM correlated_members WHERE correlated_fk = ?", (pk,)
                )
            ]
            out.append(item)
        return out

    def _image(self, conn: sqlite3.Connection, digest: str) -> ImageRow:
        row = conn.execute(
            "SELECT id, digest, name, tag, image_id, os, last_seen FROM images WHERE digest = ?",
            (digest,),
        ).fetchone()
        if row is None:
            raise InputError(f"no image with digest {digest} in {str(self.path)!r}")
        return ImageRow(*row)

    def images(self) -> list[ImageRow]:
        return [
            ImageRow(*row)
            for row in self.conn.execute(
                "SELECT id, digest, name, tag, image_id, os, last_seen FROM images ORDER BY name"
            )
        ]

    def find_image(self, ref: ImageRef | None = None, digest: str | None = None) -> ImageRow:
        """The image named by digest (or by a reference's digest, else its newest by name)."""
        want = digest or (ref.digest if ref else None)
        if want:
            return self._image(self.conn, want)
        if ref is not None:
            row = self.conn.execute(
                """SELECT id, digest, name, tag, image_id, os, last_seen FROM images
                   WHERE name = ? AND (? IS NULL OR tag = ?) ORDER BY last_seen DESC LIMIT 1""",
                (ref.name, ref.tag, ref.tag),
            ).fetchone()
            if row is None:
                raise InputError(f"no image {ref} in {str(self.path)!r}; import its reports first")
            return ImageRow(*row)
        rows = self.images()
        if len(rows) == 1:
            return rows[0]
        if not rows:
            raise InputError(f"{str(self.path)!r} holds no image yet; run cims import first")
        raise InputError(
            f"{str(self.path)!r} holds {len(rows)} images; choose one with --image or --digest"
        )

    def tool_runs(self, image_pk: int) -> list[dict[str, object]]:
        cur = self.conn.execute(
            """SELECT id, scan_fk, tool, tool_version, report_format, status, message, duration_s,
                 report_sha256, source, finding_count, created_at
               FROM tool_runs WHERE image_fk = ? ORDER BY id""",
            (image_pk,),
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]

    def scan_contents(
        self,
    ) -> tuple[ImageRef, list[tuple[ParsedReport, str, str]], list[ToolRun], list[ToolRun]]:
        """A one-image DB (a scan Job's) as what ``import_reports`` takes: the image, the
        reports, the runs that made them, and the runs without a report."""
        rows = self.images()
        if len(rows) != 1:
            raise StoreError(f"{str(self.path)!r} holds {len(rows)} images, not one scan's")
        row = rows[0]
        tag = f":{row.tag}" if row.tag else ""
        image = ImageRef.parse(f"{row.name}{tag}@{row.digest}")
        reports: list[tuple[ParsedReport, str, str]] = []
        report_runs: list[ToolRun] = []
        others: list[ToolRun] = []
        for run in self.tool_runs(row.id):
            tool_run = ToolRun.model_validate(
                {k: run[k] for k in ToolRun.model_fields if k in run and run[k] is not None}
            )
            if not run["report_sha256"]:
                others.append(tool_run)
                continue
            found = self.conn.execute(
                "SELECT finding, raw FROM raw_findings WHERE tool_run_fk = ? ORDER BY id",
                (run["id"],),
            ).fetchall()
            findings = [
                Finding.model_validate_json(f).model_copy(update={"raw_index": i})
                for i, (f, _) in enumerate(found)
            ]
            report = ParsedReport(
                tool=str(run["tool"]),
                tool_version=tool_run.tool_version,
                report_format=str(run["report_format"] or "stored"),
                findings=findings,
                raw_records=[json.loads(raw) for _, raw in found],
                image_id=row.image_id,
                os=row.os,
            )
            reports.append((report, str(run["report_sha256"]), str(run["source"] or run["tool"])))
            report_runs.append(tool_run)
        return image, reports, report_runs, others

    def publish(self, final: Path) -> None:
        """Close this DB and move it to ``final`` in one rename (readers never see it half)."""
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.execute("PRAGMA journal_mode = DELETE")
        self.close()
        self.path.replace(final)

    def check(self) -> list[str]:
        """Problems the database has: integrity, foreign keys, schema version. Empty is good."""
        problems = [
            f"integrity: {msg}"
            for (msg,) in self.conn.execute("PRAGMA integrity_check")
            if msg != "ok"
        ]
        problems += [
            f"foreign key: {table} row {rowid} points at a missing {parent}"
            for table, rowid, parent, _ in self.conn.execute("PRAGMA foreign_key_check")
        ]
        return problems


def resolve_digest(image: ImageRef, reports: Sequence[ParsedReport]) -> str:
    """The image digest an import is keyed by; reports naming another image are refused.

    A report may name several digests of one image (Grype: the platform manifest and the
    index it came from in repoDigests); its first is its main one.
    """
    named = [(r, [d for d in r.manifest_digests if _DIGEST.match(d)]) for r in reports]
    named = [(r, ds) for r, ds in named if ds]
    digest = image.digest or (named[0][1][0] if named else None)
    if digest is None:
        ids = sorted({r.image_id for r in reports if r.image_id})
        hint = f" (the reports name image ID {ids[0]})" if ids else ""
        raise InputError(
            f"--image {image} has no digest and the reports name none{hint}; "
            "give --image NAME@sha256:<digest>"
        )
    for report, digests in named:
        if digest not in digests and digest != report.image_id:
            given = (
                "given with --image" if image.digest else f"named by the {named[0][0].tool} report"
            )
            raise InputError(
                f"the {report.tool} report is of image digest {digests[0]}, not {digest} "
                f"{given}; import each image's reports with its own --image"
            )
    return digest
