"""How commands, files and the Docker engine of a host are reached. Knows nothing of resources."""

from checkpointctl.transport.base import CommandResult, FileStat, Transport

__all__ = ["CommandResult", "FileStat", "Transport"]
