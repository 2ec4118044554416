"""Uptrends private location checkpoint (Docker Compose: ``Checkpoint`` + ``TransactionProcessor``).

Follows Uptrends' knowledge base:

- https://www.uptrends.com/support/kb/synthetic-monitoring/checkpoints/private-locations/private-locations-data-protection
  (the compose service ``Checkpoint``: image ``uptrends.azurecr.io/win2022/checkpoint``,
  ``depends_on: TransactionProcessor``, restart always, ``Certificates`` mounted read-only,
  json-file logs 10m × 3, env ``ServerId``, ``Password``, ``HasIpv6Support`` and the four
  data-protection switches ``AllowScreenshotsInResults``, ``AllowPageContentInResults``,
  ``AllowHttpHeadersInResults``, ``AllowResolvedIpAddressesInResults``);
- https://www.uptrends.com/support/kb/synthetic-monitoring/checkpoints/private-locations/manage-private-locations
  (the hourly auto-update job: cron on Linux, a scheduled task on Windows, running
  ``docker-compose pull/down/up``; keep another checkpoint of the location running meanwhile);
- https://www.uptrends.com/support/kb/synthetic-monitoring/checkpoints/private-locations/private-checkpoints-docker
  (a private checkpoint is at least two Windows Docker containers, isolated from the rest of
  the network).

Not found on a public page (re-checked with the search tool): the ``TransactionProcessor``
service's own image name and variables (the profile assumes
``uptrends.azurecr.io/win2022/transactionprocessor`` and no credentials: override ``image``),
and the outbound endpoints the checkpoint needs (the profile adds none: list them under
``firewall.outbound.allow``). The published images are Windows images; checkpointctl refuses
``os: windows`` hosts for now (docs/windows.md), so on Linux the profile is exercised with the
lab's stand-in images.
"""

from __future__ import annotations

from checkpointctl.policy.vendors.profile import Setting, Toggle, VendorProfile, hardened

CHECKPOINT = "checkpoint"
PROCESSOR = "transactionprocessor"

PROFILE = VendorProfile(
    name="uptrends",
    title="Uptrends private location checkpoint",
    pages=(
        "https://www.uptrends.com/support/kb/synthetic-monitoring/checkpoints/private-locations/private-locations-data-protection",
        "https://www.uptrends.com/support/kb/synthetic-monitoring/checkpoints/private-locations/manage-private-locations",
    ),
    containers=(
        (PROCESSOR, hardened(image="uptrends.azurecr.io/win2022/transactionprocessor")),
        (
            CHECKPOINT,
            hardened(
                image="uptrends.azurecr.io/win2022/checkpoint",
                depends_on=[PROCESSOR],
                env={"HasIpv6Support": "false"},
                volumes=[
                    {"name": "certificates", "target": "/uptrends/certificates", "read_only": True}
                ],
            ),
        ),
    ),
    settings=(
        Setting("ServerId", CHECKPOINT, required=True),
        Setting("Password", CHECKPOINT, secret=True, required=True),
        Setting("HasIpv6Support", CHECKPOINT),
    ),
    toggles={
        "screenshots": Toggle(CHECKPOINT, "AllowScreenshotsInResults"),
        "page_content": Toggle(CHECKPOINT, "AllowPageContentInResults"),
        "http_headers": Toggle(CHECKPOINT, "AllowHttpHeadersInResults"),
        "resolved_ips": Toggle(
            CHECKPOINT,
            "AllowResolvedIpAddressesInResults",
            warn_when_off="DNS monitors stop working when resolved IP addresses are hidden",
        ),
    },
    unenforceable="Uptrends documents switches only for screenshots, page content, HTTP headers "
    "and resolved IP addresses",
    notes=(
        "TransactionProcessor's image and variables are not on a public page",
        "no outbound endpoints are documented on a public page",
    ),
)
