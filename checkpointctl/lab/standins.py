"""Stand-in images for the vendors' agents: the lab cannot pull the real ones.

Each stand-in is a busybox shell script that implements one vendor's documented contract and
nothing more: it reads exactly the variables and files the vendor's agent reads (see
``checkpointctl/policy/vendors/``), refuses to start without the vendor's required credentials
(exit 1, with a message in the vendor's terms), and writes the settings it ended up with to
``/tmp/standin/effective.json`` (and its log), the way the agent's health data would show them.
Secrets are never written there: a secret shows as ``"<set>"``. They are stand-ins, not the
vendors' software, and are named so everywhere (``standin/<vendor>-...`` in the lab registry).

**The health signal** (what the apply health gate and the tests wait for): the container's
Docker health status. The images carry a ``HEALTHCHECK`` (:data:`HEALTHCHECK`) that passes
once ``effective.json`` exists and is not empty, and the script writes that file whole before
it can be seen: to ``effective.json.tmp`` first, then renamed into place. So ``healthy`` means
the effective settings are there to read, complete; before that the status is ``starting``, and
a stand-in that refused its settings exits (status ``exited``, never ``healthy``). The first
check runs :data:`HEALTH_INTERVAL_SECONDS` after the start (the lab's engine predates Docker's
``start-interval``): the interval is short so an apply does not wait long, and no shorter,
since every check is an ``exec`` in each stand-in on a shared machine.
"""

from __future__ import annotations

from dataclasses import dataclass

EFFECTIVE = "/tmp/standin/effective.json"  # noqa: S108 - a path inside the stand-in container
"""Where a stand-in writes its effective settings (a tmpfs in the container)."""
HEALTH_INTERVAL_SECONDS = 3
HEALTHCHECK: dict[str, list[str] | int] = {
    "Test": ["CMD", "/bin/test", "-s", EFFECTIVE],
    "Interval": HEALTH_INTERVAL_SECONDS * 1_000_000_000,
    "Timeout": 3 * 1_000_000_000,
    "Retries": 3,
}
"""The stand-in images' healthcheck, in the image config's form (durations in nanoseconds):
healthy once the effective settings are published."""

_PRELUDE = r"""set -u
fail() { echo "$*" >&2; exit 1; }
out=/tmp/standin
mkdir -p "$out" || fail "stand-in: cannot write $out (is /tmp a writable tmpfs?)"
json() { printf '"%s": "%s"' "$1" "$2"; }
secret() { if [ -n "$1" ]; then echo '<set>'; else echo ''; fi; }
"""
_FOREVER = r"""mv -f "$out/effective.json.tmp" "$out/effective.json" \
  || fail "stand-in: cannot publish $out/effective.json"
cat "$out/effective.json"
trap 'exit 0' TERM INT
while :; do sleep 3600 & wait $!; done
"""

_UPTRENDS_CHECKPOINT = r"""# stand-in for Uptrends' Checkpoint service (not Uptrends software)
hint="copy it from the checkpoint's settings in Uptrends"
[ -n "${ServerId:-}" ] || fail "Checkpoint: ServerId is not set: $hint"
[ -n "${Password:-}" ] || fail "Checkpoint: Password is not set: $hint"
{
  printf '{'
  json standin uptrends-checkpoint; printf ', '
  json ServerId "$ServerId"; printf ', '
  json Password "$(secret "$Password")"; printf ', '
  json HasIpv6Support "${HasIpv6Support:-false}"; printf ', '
  json AllowScreenshotsInResults "${AllowScreenshotsInResults:-true}"; printf ', '
  json AllowPageContentInResults "${AllowPageContentInResults:-true}"; printf ', '
  json AllowHttpHeadersInResults "${AllowHttpHeadersInResults:-true}"; printf ', '
  json AllowResolvedIpAddressesInResults \
    "${AllowResolvedIpAddressesInResults:-true}"
  printf '}\n'
} > "$out/effective.json.tmp"
"""

_UPTRENDS_PROCESSOR = r"""# stand-in for Uptrends' TransactionProcessor (not Uptrends software)
printf '{"standin": "uptrends-transactionprocessor"}\n' > "$out/effective.json.tmp"
"""

_DATADOG = r"""# stand-in for Datadog's synthetics private location worker (not Datadog software)
config=/etc/datadog/synthetics-check-runner.json
[ -r "$config" ] || fail "Error: configuration file $config not found or not readable"
for key in id accessKey secretAccessKey privateKey publicKey; do
  grep -q "\"$key\":" "$config" || fail "Error: missing $key in configuration $config"
done
# a top-level scalar of the canonical (indent 2, one key a line) file; stops at a quote or comma
value() { sed -n "s/^  \"$1\": \"\{0,1\}\([^\",]*\).*/\1/p" "$config" | head -n 1; }
site=$(value site); concurrency=$(value concurrency)
for arg in "$@"; do  # launch arguments override the file
  case $arg in
    --site=*) site=${arg#--site=};;
    --concurrency=*) concurrency=${arg#--concurrency=};;
  esac
done
{
  printf '{'
  json standin datadog-worker; printf ', '
  json config "$config"; printf ', '
  json id "$(value id)"; printf ', '
  json site "${site:-datadoghq.com}"; printf ', '
  json concurrency "${concurrency:-10}"; printf ', '
  json accessKey "$(secret "$(value accessKey)")"
  printf '}\n'
} > "$out/effective.json.tmp"
"""

_CHECKLY = r"""# stand-in for the Checkly agent (not Checkly software)
[ -n "${API_KEY:-}" ] || \
  fail "API_KEY is not set: use the API key shown when the private location was created"
case ${JOB_CONCURRENCY:-1} in [1-9]|10) ;; *) fail "JOB_CONCURRENCY must be 1 to 10";; esac
{
  printf '{'
  json standin checkly-agent; printf ', '
  json API_KEY "$(secret "$API_KEY")"; printf ', '
  json JOB_CONCURRENCY "${JOB_CONCURRENCY:-1}"; printf ', '
  json LOG_LEVEL "${LOG_LEVEL:-INFO}"; printf ', '
  json HTTPS_PROXY "$(secret "${HTTPS_PROXY:-}")"
  printf '}\n'
} > "$out/effective.json.tmp"
"""

_NEWRELIC = r"""# stand-in for New Relic's synthetics job manager (not New Relic software)
[ -n "${PRIVATE_LOCATION_KEY:-}" ] || \
  fail "PRIVATE_LOCATION_KEY is required: find it on the Private Location entity list"
socket=${DOCKER_HOST:-/var/run/docker.sock}
socket=${socket#unix://}
[ -S "$socket" ] || fail "cannot reach the Docker engine at $socket (DOCKER_HOST)"
{
  printf '{'
  json standin newrelic-job-manager; printf ', '
  json PRIVATE_LOCATION_KEY "$(secret "$PRIVATE_LOCATION_KEY")"; printf ', '
  json HORDE_API_ENDPOINT "${HORDE_API_ENDPOINT:-https://synthetics-horde.nr-data.net}"
  printf ', '
  json LOG_LEVEL "${LOG_LEVEL:-INFO}"; printf ', '
  json DOCKER_HOST "$socket"
  printf '}\n'
} > "$out/effective.json.tmp"
"""


@dataclass(frozen=True, slots=True)
class StandIn:
    """One stand-in image: where it goes in the lab registry and the script it runs."""

    repository: str
    key: str
    """The lab inventory variable holding its pinned reference."""
    title: str
    script: str

    @property
    def text(self) -> bytes:
        return ("#!/bin/sh\n" + _PRELUDE + self.script + _FOREVER).encode()


STANDINS: tuple[StandIn, ...] = (
    StandIn("standin/uptrends-checkpoint", "standin_uptrends_checkpoint_image",
            "stand-in for Uptrends Checkpoint", _UPTRENDS_CHECKPOINT),
    StandIn("standin/uptrends-transactionprocessor", "standin_uptrends_processor_image",
            "stand-in for Uptrends TransactionProcessor", _UPTRENDS_PROCESSOR),
    StandIn("standin/datadog-worker", "standin_datadog_image",
            "stand-in for Datadog synthetics private location worker", _DATADOG),
    StandIn("standin/checkly-agent", "standin_checkly_image",
            "stand-in for Checkly agent", _CHECKLY),
    StandIn("standin/newrelic-job-manager", "standin_newrelic_image",
            "stand-in for New Relic synthetics job manager", _NEWRELIC),
)  # fmt: skip
SCRIPT_PATH = "standin/run"
STANDIN_CMD = ("/bin/sh", "/standin/run")

__all__ = [
    "EFFECTIVE",
    "HEALTHCHECK",
    "HEALTH_INTERVAL_SECONDS",
    "SCRIPT_PATH",
    "STANDINS",
    "STANDIN_CMD",
    "StandIn",
]
