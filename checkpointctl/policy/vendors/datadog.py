"""Datadog Synthetic Monitoring private location worker.

Follows https://docs.datadoghq.com/synthetics/platform/private_locations/configuration/ : the
worker (``datadog/synthetics-private-location-worker``) reads its configuration, secrets
included, from a JSON file mounted at ``/etc/datadog/synthetics-check-runner.json``; launch
arguments override the file. Documented keys used here: ``site``, ``dnsUseHost``,
``dnsServer``, ``proxyDatadog``, ``proxyTestRequests``, ``proxyIgnoreSSLErrors``,
``enableDefaultBlockedIpRanges``, ``allowedIPRanges``, ``blockedIPRanges``, ``concurrency``,
``maxTimeout``, ``enableStatusProbes``.

Outbound endpoint, confirmed on https://docs.datadoghq.com/agent/configuration/network/ (the
"Synthetic Monitoring Private Locations" destinations): from worker v1.5.0 on,
``intake.synthetics.<site>`` is the only endpoint to configure (``intake-v2.synthetics.<site>``
was the browser-test results endpoint of older workers); the profile lists both for the default
site ``datadoghq.com``: a policy on another site sets ``egress``.

Not found on a public page (re-checked with the search tool): the key names of the credentials
in the file Datadog generates (``id``, ``accessKey``, ``secretAccessKey``, ``privateKey``,
``publicKey.pem``, ``publicKey.fingerprint`` are taken from the generated file's shape; the
public API page https://docs.datadoghq.com/api/latest/synthetics/get-a-private-location/ names
the same secrets ``authentication.id``, ``authentication.key`` and ``config_decryption.key``,
not the file's keys), and the worker image's uid (the profile runs it as 10001).

The worker's configuration has no switch for any data-collection toggle: what a test records is
chosen per test in Datadog, so every toggle turned off is a lint warning.
"""

from __future__ import annotations

from checkpointctl.policy.vendors.profile import ConfigFile, Setting, VendorProfile, hardened

WORKER = "worker"
CONFIG_PATH = "/etc/datadog/synthetics-check-runner.json"

_SECRET = ("accessKey", "secretAccessKey", "privateKey")
_REQUIRED = ("id", "publicKey.pem", "publicKey.fingerprint")
_OPTIONAL = (
    "site", "dnsUseHost", "dnsServer", "proxyDatadog", "proxyTestRequests",
    "proxyIgnoreSSLErrors", "enableDefaultBlockedIpRanges", "allowedIPRanges",
    "blockedIPRanges", "concurrency", "maxTimeout", "enableStatusProbes",
)  # fmt: skip

PROFILE = VendorProfile(
    name="datadog",
    title="Datadog synthetics private location worker",
    pages=("https://docs.datadoghq.com/synthetics/platform/private_locations/configuration/",),
    containers=((WORKER, hardened(image="datadog/synthetics-private-location-worker")),),
    settings=(
        *(Setting(k, WORKER, "file", secret=True, required=True) for k in _SECRET),
        *(Setting(k, WORKER, "file", required=True) for k in _REQUIRED),
        *(Setting(k, WORKER, "file") for k in _OPTIONAL),
    ),
    unenforceable="the worker's configuration has no such switch; Datadog sets what a test "
    "records per test",
    egress=("intake.synthetics.datadoghq.com", "intake-v2.synthetics.datadoghq.com"),
    config_file=ConfigFile(WORKER, CONFIG_PATH),
    notes=(
        "credential key names follow the generated configuration file, not a documented list",
        "intake endpoints are those of the default site datadoghq.com",
    ),
)
