"""Vendor profiles: what each vendor documents its private-location agent needs, as data.

A checkpoint with ``vendor: <name>`` expands (``policy.checkpoints``) into the containers, env,
files, volumes and egress endpoints of that vendor's profile; anything the policy sets on the
checkpoint overrides the profile field by field. Every profile cites the vendor's public page it
follows and says where no page was found. Profiles are hardened by default (read-only root, all
capabilities dropped, non-root, no-new-privileges, limits); what a vendor's agent truly needs
beyond that is carried as a waiver with the documented reason.
"""

from __future__ import annotations

from collections.abc import Mapping

from checkpointctl.policy.vendors import checkly, datadog, newrelic, uptrends
from checkpointctl.policy.vendors.profile import VendorProfile

PROFILES: Mapping[str, VendorProfile] = {
    p.name: p for p in (uptrends.PROFILE, datadog.PROFILE, checkly.PROFILE, newrelic.PROFILE)
}
"""Every vendor profile by name."""


def profiles() -> Mapping[str, VendorProfile]:
    """Every vendor profile by name."""
    return PROFILES


__all__ = ["PROFILES", "VendorProfile", "profiles"]
