"""New Relic synthetics job manager.

Follows https://docs.newrelic.com/docs/synthetics/synthetic-monitoring/private-locations/job-manager-configuration/
: ``PRIVATE_LOCATION_KEY`` is required, the other variables optional (``HORDE_API_ENDPOINT``,
US ``https://synthetics-horde.nr-data.net``; ``DOCKER_HOST``, default
``/var/run/docker.sock``; proxy ``HORDE_API_PROXY_*``; ``CHECK_TIMEOUT``; ``LOG_LEVEL``;
``HEAVYWEIGHT_WORKERS``; ``DOCKER_API_VERSION``, ``DOCKER_REGISTRY``, ``DOCKER_REPOSITORY``).

The job manager starts its runtime containers through the host's Docker engine, so the profile
mounts ``/var/run/docker.sock`` read-write and runs as root, each under a waiver with that
reason: whoever controls the socket controls the host. New Relic documents no agent-side
switch for any data-collection toggle.
"""

from __future__ import annotations

from checkpointctl.policy.vendors.profile import ProfileWaiver, Setting, VendorProfile, hardened

MANAGER = "job-manager"
DOCKER_SOCKET = "/var/run/docker.sock"
_WHY = (
    "New Relic's job manager starts runtime containers through the Docker engine "
    "(DOCKER_HOST, default /var/run/docker.sock)"
)

PROFILE = VendorProfile(
    name="newrelic",
    title="New Relic synthetics job manager",
    pages=(
        "https://docs.newrelic.com/docs/synthetics/synthetic-monitoring/private-locations/job-manager-configuration/",
    ),
    containers=(
        (
            MANAGER,
            hardened(
                image="newrelic/synthetics-job-manager",
                user="0:0",
                mounts=[{"source": DOCKER_SOCKET, "target": DOCKER_SOCKET, "read_only": False}],
            ),
        ),
    ),
    settings=(
        Setting("PRIVATE_LOCATION_KEY", MANAGER, secret=True, required=True),
        Setting("HORDE_API_ENDPOINT", MANAGER),
        Setting("HORDE_API_PROXY_HOST", MANAGER),
        Setting("HORDE_API_PROXY_PORT", MANAGER),
        Setting("HORDE_API_PROXY_USERNAME", MANAGER),
        Setting("HORDE_API_PROXY_PW", MANAGER, secret=True),
        Setting("HORDE_API_PROXY_ACCEPT_SELF_SIGNED_CERT", MANAGER),
        Setting("CHECK_TIMEOUT", MANAGER),
        Setting("LOG_LEVEL", MANAGER),
        Setting("HEAVYWEIGHT_WORKERS", MANAGER),
        Setting("DOCKER_API_VERSION", MANAGER),
        Setting("DOCKER_REGISTRY", MANAGER),
        Setting("DOCKER_REPOSITORY", MANAGER),
    ),
    unenforceable="New Relic documents no job-manager switch for it",
    egress=("synthetics-horde.nr-data.net",),
    waivers=(
        ProfileWaiver("root-user", MANAGER, _WHY + ": root reaches the socket"),
        ProfileWaiver("docker-socket", MANAGER, _WHY + ": it needs the socket"),
        ProfileWaiver("writable-mount", MANAGER, _WHY + ": the socket is mounted writable"),
    ),
    notes=(
        "EU accounts use synthetics-horde.eu01.nr-data.net: override HORDE_API_ENDPOINT "
        "and the egress",
    ),
)
