"""The few Kubernetes API calls the operator makes besides kopf's own: create a Job, read why
a Job's pod failed, write the statuses the operator's loops find, read kopf's peering objects, list
namespaces and manage the ImageScans of policies. Built once at startup
(kept in memo), closed at cleanup."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubernetes import client, config
from kubernetes.client.rest import ApiException

from cims.k8s.peering import Peering
from cims.k8s.resource import GROUP, PLURAL, VERSION

MERGE_PATCH = "application/merge-patch+json"


@dataclass
class KubeClient:
    api: Any

    @classmethod
    def connect(cls) -> KubeClient:
        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        return cls(api=client.ApiClient())

    def close(self) -> None:
        self.api.close()

    def create_job(self, job: dict[str, Any]) -> None:
        """Create the Job; one that already exists (a retry, a restart) is adopted as it is."""
        try:
            client.BatchV1Api(self.api).create_namespaced_job(job["metadata"]["namespace"], job)
        except ApiException as err:
            if err.status != 409:
                raise

    def failure_of(self, namespace: str, job: dict[str, Any]) -> tuple[str, str]:
        """(reason, message) of a failed Job: its pod's termination first, else the Job's."""
        name = job.get("name", "")
        reason, message = "JobFailed", f"Job {name} failed"
        for cond in job.get("conditions") or []:
            if cond.get("type") == "Failed":
                reason = cond.get("reason") or reason
                message = cond.get("message") or message
        try:
            pods = client.CoreV1Api(self.api).list_namespaced_pod(
                namespace, label_selector=f"job-name={name}"
            )
        except ApiException:
            return reason, message
        for pod in pods.items:
            if (pod.metadata.labels or {}).get("job-name") != name:
                continue  # selectors are filtered here too: not every API server applies them
            for cs in (pod.status.container_statuses or []) if pod.status else []:
                term = cs.state.terminated if cs.state else None
                if term is not None and term.exit_code:
                    text = (term.message or "").strip().splitlines()
                    detail = text[-1] if text else f"exit code {term.exit_code}"
                    return term.reason or reason, f"{message}: {detail}"[:1024]
        return reason, message

    def namespace_labels(self) -> dict[str, dict[str, str]]:
        """Every namespace and its labels (policies select namespaces by label)."""
        found = client.CoreV1Api(self.api).list_namespace()
        return {ns.metadata.name: dict(ns.metadata.labels or {}) for ns in found.items}

    def create_imagescan(self, body: dict[str, Any]) -> bool:
        """Create an ImageScan; False when one of that name exists already."""
        try:
            client.CustomObjectsApi(self.api).create_namespaced_custom_object(
                GROUP, VERSION, body["metadata"]["namespace"], PLURAL, body
            )
        except ApiException as err:
            if err.status != 409:
                raise
            return False
        return True

    def patch_imagescan(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        client.CustomObjectsApi(self.api).patch_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            patch,
            _content_type=MERGE_PATCH,
        )

    def patch_status(
        self, plural: str, name: str, patch: dict[str, Any], namespace: str | None = None
    ) -> None:
        """Merge-patch the status of an ImageScan (namespaced) or a ClusterScanPolicy; one
        deleted meanwhile is left alone."""
        api = client.CustomObjectsApi(self.api)
        try:
            if namespace is None:
                api.patch_cluster_custom_object_status(
                    GROUP, VERSION, plural, name, patch, _content_type=MERGE_PATCH
                )
            else:
                api.patch_namespaced_custom_object_status(
                    GROUP, VERSION, namespace, plural, name, patch, _content_type=MERGE_PATCH
                )
        except ApiException as err:
            if err.status != 404:
                raise

    def peering_statuses(self, peering: Peering) -> list[dict[str, Any]]:
        """The status (peers) of kopf's peering object(s) this operator takes part in; an
        object that does not exist has no peers (kopf then runs unhindered too)."""
        api = client.CustomObjectsApi(self.api)
        found = []
        places: list[str | None] = [None] if peering.clusterwide else list(peering.namespaces)
        for namespace in places:
            try:
                if namespace is None:
                    body = api.get_cluster_custom_object(
                        "kopf.dev", "v1", "clusterkopfpeerings", peering.name
                    )
                else:
                    body = api.get_namespaced_custom_object(
                        "kopf.dev", "v1", namespace, "kopfpeerings", peering.name
                    )
            except ApiException as err:
                if err.status != 404:
                    raise
                continue
            found.append(dict(body.get("status") or {}))
        return found

    def delete_imagescan(self, namespace: str, name: str) -> bool:
        """Delete an ImageScan (its Jobs go with it: they are owned); False when it was gone
        already."""
        try:
            client.CustomObjectsApi(self.api).delete_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name
            )
        except ApiException as err:
            if err.status != 404:
                raise
            return False
        return True
