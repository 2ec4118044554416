"""What OpenSSH's own client makes of a config: ``ssh -G`` (prints the settings, connects to
nothing), the reference the ssh_config tests compare checkpointctl's reading with."""

from __future__ import annotations

import subprocess


def ssh_g(config_file: str, name: str) -> dict[str, str]:
    """``ssh -F config_file -G name``: each setting's lower-case keyword → its value."""
    printed = subprocess.run(
        ["ssh", "-F", config_file, "-G", name],
        capture_output=True,
        text=True,
        check=True,
        stdin=subprocess.DEVNULL,
    ).stdout
    return dict(line.split(" ", 1) for line in printed.splitlines() if " " in line)
