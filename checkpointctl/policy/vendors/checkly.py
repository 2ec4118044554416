"""Checkly agent (private locations).

Follows https://www.checklyhq.com/docs/platform/private-locations/agent-configuration/ (env
``API_KEY``, ``HTTPS_PROXY``, ``HTTP_PROXY``, ``JOB_CONCURRENCY`` 1–10, ``LOG_LEVEL``,
``USE_OS_DNS_RESOLVER``) and https://www.checklyhq.com/product/private-locations/ (outbound only,
to ``agent.checklyhq.com``; ``NODE_EXTRA_CA_CERTS`` for internal CAs).

Checkly documents no agent-side switch for any data-collection toggle (screenshots, console
logs, ...): every toggle turned off is a lint warning. Not found on a public page: the agent
image's own uid (the profile runs it as 10001).
"""

from __future__ import annotations

from checkpointctl.policy.vendors.profile import Setting, VendorProfile, hardened

AGENT = "agent"

PROFILE = VendorProfile(
    name="checkly",
    title="Checkly agent",
    pages=(
        "https://www.checklyhq.com/docs/platform/private-locations/agent-configuration/",
        "https://www.checklyhq.com/product/private-locations/",
    ),
    containers=((AGENT, hardened(image="checkly/agent", env={"JOB_CONCURRENCY": "1"})),),
    settings=(
        Setting("API_KEY", AGENT, secret=True, required=True),
        Setting("HTTPS_PROXY", AGENT),
        Setting("HTTP_PROXY", AGENT),
        Setting("JOB_CONCURRENCY", AGENT),
        Setting("LOG_LEVEL", AGENT),
        Setting("USE_OS_DNS_RESOLVER", AGENT),
        Setting("NODE_EXTRA_CA_CERTS", AGENT),
    ),
    unenforceable="Checkly documents no agent-side switch for it",
    egress=("agent.checklyhq.com",),
    notes=("the agent image's uid is not documented",),
)
