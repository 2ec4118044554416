"""A bundle carries what issue 18 added to the desired state: the container's namespace and
kernel-access settings, the waivers (so a pull-mode host's reports show them too) and the scan
gate's allow-list, through the same data form ``render`` prints."""

from __future__ import annotations

from datetime import date

from checkpointctl.spec import (
    ContainerSpec,
    DesiredState,
    ImageRef,
    RegistriesSpec,
    ScanAllowance,
    ScanGate,
    WaiverSpec,
    state_to_data,
)
from checkpointctl.trust.statecodec import state_from_data


def test_new_fields_survive_the_bundle_form() -> None:
    container = ContainerSpec(
        name="probe",
        image=ImageRef("registry.example.com/checkpoint/probe", "sha256:" + "a" * 64),
        pid="host",
        ipc="none",
        userns_mode="host",
        security_opt=("apparmor=checkpoint",),
        devices=("/dev/fuse:/dev/fuse:rwm",),
        sysctls=(("net.ipv4.ping_group_range", "0 1"),),
    )
    allowance = ScanAllowance("CVE-2026-1", "not reachable from the agent", "sec", date(2027, 1, 1))
    state = DesiredState(
        host="cp-1",
        containers=(container,),
        registries=RegistriesSpec(scan=ScanGate(required=True, allow=(allowance,))),
        waivers=(WaiverSpec("host-pid", "probe", "the agent watches host processes", "p.yml:9:7"),),
    )
    data = state_to_data(state)
    assert data["waivers"] == [
        {"rule": "host-pid", "target": "probe", "reason": "the agent watches host processes",
         "source": "p.yml:9:7"}
    ]  # fmt: skip
    assert state_from_data(data) == state
