"""Prometheus metrics of the operator, in the text exposition format, on an HTTP port."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Metrics:
    scans: Counter[tuple[str, str]] = field(default_factory=Counter)  # (event, outcome)
    findings: Counter[str] = field(default_factory=Counter)  # severity -> last scans' counts
    job_seconds_sum: float = 0.0
    job_seconds_count: int = 0
    pending: set[str] = field(default_factory=set)  # namespace/name waiting for a slot

    def scan(self, event: str, outcome: str) -> None:
        self.scans[(event, outcome)] += 1

    def finished(self, counts: dict[str, int], seconds: float | None) -> None:
        for severity, n in counts.items():
            self.findings[severity] += n
        if seconds is not None:
            self.job_seconds_sum += seconds
            self.job_seconds_count += 1

    def render(self) -> str:
        lines = [
            "# HELP cims_scans_total Scans by event (started, complete, failed, cached), outcome.",
            "# TYPE cims_scans_total counter",
        ]
        for (event, outcome), n in sorted(self.scans.items()):
            lines.append(f'cims_scans_total{{event="{event}",outcome="{outcome}"}} {n}')
        lines += [
            "# HELP cims_findings_total Correlated findings of finished scans, by severity.",
            "# TYPE cims_findings_total counter",
        ]
        for severity, n in sorted(self.findings.items()):
            lines.append(f'cims_findings_total{{severity="{severity}"}} {n}')
        lines += [
            "# HELP cims_scan_job_seconds Time from Job creation to its result.",
            "# TYPE cims_scan_job_seconds summary",
            f"cims_scan_job_seconds_sum {self.job_seconds_sum:.3f}",
            f"cims_scan_job_seconds_count {self.job_seconds_count}",
            "# HELP cims_queue_length ImageScans waiting for a free scan slot.",
            "# TYPE cims_queue_length gauge",
            f"cims_queue_length {len(self.pending)}",
        ]
        return "\n".join(lines) + "\n"


async def serve(metrics: Metrics, port: int) -> web.AppRunner:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(text=metrics.render(), content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()  # noqa: S104 (scraped from the cluster)
    return runner
