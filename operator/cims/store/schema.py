"""Versioned schema. Migration N takes a database from ``user_version`` N-1 to N."""

from __future__ import annotations

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE images (
            id INTEGER PRIMARY KEY,
            digest TEXT NOT NULL UNIQUE CHECK (digest GLOB 'sha256:*'),
            name TEXT NOT NULL,
            tag TEXT,
            image_id TEXT,
            os TEXT,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL
        )""",
        """CREATE TABLE scans (
            id INTEGER PRIMARY KEY,
            image_fk INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE tool_runs (
            id INTEGER PRIMARY KEY,
            scan_fk INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
            image_fk INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
            tool TEXT NOT NULL,
            tool_version TEXT,
            report_format TEXT,
            status TEXT NOT NULL
                CHECK (status IN ('ok', 'failed', 'timed-out', 'not-applicable')),
            message TEXT NOT NULL DEFAULT '',
            duration_s REAL,
            report_sha256 TEXT,
            source TEXT,
            finding_count INTEGER NOT NULL DEFAULT 0,
            skipped TEXT NOT NULL DEFAULT '[]',
            created_at TEXT NOT NULL
        )""",
        """CREATE UNIQUE INDEX tool_runs_report ON tool_runs (image_fk, report_sha256)
            WHERE report_sha256 IS NOT NULL""",
        "CREATE TABLE vulnerabilities (id TEXT PRIMARY KEY)",
        """CREATE TABLE aliases (
            a TEXT NOT NULL REFERENCES vulnerabilities(id),
            b TEXT NOT NULL REFERENCES vulnerabilities(id),
            source TEXT NOT NULL,
            PRIMARY KEY (a, b, source)
        )""",
        """CREATE TABLE packages (
            id INTEGER PRIMARY KEY,
            ecosystem TEXT NOT NULL,
            name TEXT NOT NULL,
            UNIQUE (ecosystem, name)
        )""",
        """CREATE TABLE raw_findings (
            id INTEGER PRIMARY KEY,
            tool_run_fk INTEGER NOT NULL REFERENCES tool_runs(id) ON DELETE CASCADE,
            vuln_fk TEXT NOT NULL REFERENCES vulnerabilities(id),
            package_fk INTEGER NOT NULL REFERENCES packages(id),
            installed_version TEXT NOT NULL,
            severity TEXT NOT NULL,
            finding TEXT NOT NULL,
            raw TEXT NOT NULL
        )""",
        "CREATE INDEX raw_findings_run ON raw_findings (tool_run_fk)",
        """CREATE TABLE correlated (
            id INTEGER PRIMARY KEY,
            image_fk INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
            vulnerability TEXT NOT NULL,
            ecosystem TEXT NOT NULL,
            package TEXT NOT NULL,
            version TEXT NOT NULL,
            severity TEXT NOT NULL,
            tool_count INTEGER NOT NULL,
            policy TEXT NOT NULL,
            data TEXT NOT NULL
        )""",
        "CREATE INDEX correlated_image ON correlated (image_fk, severity)",
        """CREATE TABLE correlated_members (
            correlated_fk INTEGER NOT NULL REFERENCES correlated(id) ON DELETE CASCADE,
            raw_fk INTEGER NOT NULL REFERENCES raw_findings(id) ON DELETE CASCADE,
            PRIMARY KEY (correlated_fk, raw_fk)
        )""",
    ),
    (
        # v2: each vulnerability id records the alias group it was last correlated into
        "ALTER TABLE vulnerabilities ADD COLUMN alias_group TEXT",
        "CREATE INDEX vulnerabilities_group ON vulnerabilities (alias_group)",
    ),
    (
        # v3: alias edges are looked up from either end (the primary key covers only `a`)
        "CREATE INDEX aliases_b ON aliases (b)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
