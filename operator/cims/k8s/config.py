"""Operator configuration, from the environment (the Helm chart sets it)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from pydantic import BaseModel, Field, ValidationError

from cims.errors import InputError
from cims.k8s.resource import Placement


class OperatorConfig(BaseModel):
    image: str = "cims:dev"  # the CIMS image scan Jobs run
    namespaces: tuple[str, ...] = ()  # empty: cluster-wide
    max_running: int = Field(10, ge=1)
    cache_ttl_s: int = Field(3600, ge=0)
    top_n: int = Field(50, ge=0, le=500)
    shared_dir: str = "/shared"  # where the operator sees the shared volume
    shared_claim: str = "cims-shared"  # the PVC scan Jobs mount at /shared
    placement: Placement = Field(default_factory=Placement)
    job_ttl_s: int = Field(3600, ge=0)
    backoff_limit: int = Field(1, ge=0, le=10)
    poll_s: float = Field(10.0, gt=0)
    metrics_port: int = Field(9090, ge=0, le=65535)
    policy_namespace: str = "cims"  # where ClusterScanPolicies create their ImageScans
    policy_poll_s: float = Field(60.0, gt=0)  # how often running images are re-evaluated

    @property
    def central_db(self) -> str:
        return f"{self.shared_dir}/cims.db"


_ENV = {
    "image": "CIMS_OPERATOR_IMAGE",
    "namespaces": "CIMS_OPERATOR_NAMESPACES",
    "max_running": "CIMS_OPERATOR_MAX_RUNNING",
    "cache_ttl_s": "CIMS_OPERATOR_CACHE_TTL",
    "top_n": "CIMS_OPERATOR_TOP_N",
    "shared_dir": "CIMS_OPERATOR_SHARED_DIR",
    "shared_claim": "CIMS_OPERATOR_SHARED_CLAIM",
    "placement": "CIMS_OPERATOR_DEFAULT_PLACEMENT",
    "job_ttl_s": "CIMS_OPERATOR_JOB_TTL",
    "backoff_limit": "CIMS_OPERATOR_BACKOFF_LIMIT",
    "poll_s": "CIMS_OPERATOR_POLL_SECONDS",
    "metrics_port": "CIMS_OPERATOR_METRICS_PORT",
    "policy_namespace": "CIMS_OPERATOR_POLICY_NAMESPACE",
    "policy_poll_s": "CIMS_OPERATOR_POLICY_SECONDS",
}


def from_env(env: Mapping[str, str] | None = None) -> OperatorConfig:
    environ = os.environ if env is None else env
    values: dict[str, object] = {}
    for field, name in _ENV.items():
        raw = environ.get(name)
        if raw is None or raw == "":
            continue
        if field == "namespaces":
            values[field] = tuple(n.strip() for n in raw.split(",") if n.strip())
        elif field == "placement":
            try:
                values[field] = json.loads(raw)
            except ValueError as err:
                raise InputError(f"{name} is not valid JSON: {err}") from None
        else:
            values[field] = raw
    try:
        return OperatorConfig.model_validate(values)
    except ValidationError as err:
        first = err.errors()[0]
        where = _ENV.get(str(first["loc"][0]), str(first["loc"][0])) if first["loc"] else "config"
        raise InputError(f"{where}: {first['msg']}") from None
