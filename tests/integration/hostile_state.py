"""What the hostile-path tests converge, shared by the push side and the pull-mode helper."""

from __future__ import annotations

from checkpointctl.model import HostResult, JSONValue, Secret
from checkpointctl.resources.base import Resource
from checkpointctl.resources.collection.resource import CollectionResource
from checkpointctl.resources.credentials.resource import CredentialsResource
from checkpointctl.resources.paths import PathsResource
from checkpointctl.spec import CollectionSpec, CredentialSpec, DesiredState

CONTAINER = "probe-hostile"
RESOURCES: tuple[Resource, ...] = (PathsResource(), CredentialsResource(), CollectionResource())


def desired(host: str, secret: str) -> DesiredState:
    """A credential in ``credentials/`` and a container's collection file in its directory."""
    return DesiredState(
        host=host,
        credentials=(
            CredentialSpec(
                name="api",
                username="monitor",
                secret=Secret(secret),
                containers=(CONTAINER,),
                uid=65534,
                gid=65534,
            ),
        ),
        collection=(CollectionSpec(CONTAINER, "minimal", (("screenshots", False),)),),
        policies=("hostile-paths",),
    )


def result_json(result: HostResult) -> dict[str, JSONValue]:
    changes: list[JSONValue] = [
        {"address": c.address, "reason": c.reason, "fields": [f.path for f in c.fields]}
        for c in result.changes
    ]
    return {
        "status": result.status.value,
        "error": result.error,
        "changes": changes,
        "applied": list(result.applied),
    }
