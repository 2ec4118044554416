"""The typed SSH settings of a host: the command line's ssh_config is a default, never an
override of what the inventory says for a host."""

from __future__ import annotations

from checkpointctl.model import Host, SshSettings
from checkpointctl.model.access import host_access, with_default_config_file


def test_a_host_without_its_own_file_takes_the_default() -> None:
    host = Host("cp-1", "10.0.0.1", ssh=SshSettings(jump=("bastion",)))
    got = with_default_config_file(host, "/etc/fleet.cfg")
    assert got.ssh.config_file == "/etc/fleet.cfg"
    assert got.ssh.jump == ("bastion",)  # the rest of its settings kept
    assert host.ssh.config_file is None  # a new host, the old one untouched


def test_a_hosts_own_file_wins() -> None:
    for hvars in ({"ssh_config_file": "/own.cfg"}, {"ansible_ssh_common_args": "-F /own.cfg"}):
        ssh, _ = host_access(hvars)
        host = Host("cp-1", "10.0.0.1", ssh=ssh)
        assert with_default_config_file(host, "/etc/fleet.cfg").ssh.config_file == "/own.cfg"
