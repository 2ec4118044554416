"""Docker's HTTP API over channels of the host's existing SSH connection.

docker-py can reach an engine over SSH by itself, but it logs in again with its own client and
its own idea of host keys and credentials. We already hold one verified, authenticated
connection per host, so this adapter carries Docker's HTTP requests over *channels* of that
connection instead: each HTTP connection is a channel running ``docker system dial-stdio`` on
the host, which pipes stdio to the engine's socket. No second login, no second host key check.

The pieces, bottom up (the same shape docker-py uses in ``docker/transport/sshconn.py``):

- :class:`ChannelSocket` gives a channel the socket surface ``http.client`` and urllib3 use;
- :class:`DialStdioConnection` / :class:`DialStdioPool` make urllib3 open channels instead of
  TCP sockets;
- :class:`DialStdioAdapter` hands that pool to requests for every URL, and is mounted on the
  ``DockerClient``'s session for both ``http://`` and ``https://``, so no request can leave
  through any other route.

The ``docker`` package itself is imported only inside :func:`open_docker_client`.
"""

from __future__ import annotations

import io
import socket
import threading
from typing import TYPE_CHECKING, Any, cast

import requests
import requests.adapters
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import NewConnectionError

from checkpointctl.errors import CommandFailed, TransportError
from checkpointctl.transport.base import DockerClient
from checkpointctl.transport.command import stderr_tail
from checkpointctl.transport.sshlib import paramiko

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

#: The remote command behind every Docker HTTP connection (a constant: nothing to quote).
DIAL_STDIO = "docker system dial-stdio"
DIAL_STDIO_ARGV = ("docker", "system", "dial-stdio")
#: The URL the Docker client believes it talks to. Never contacted: the adapter is mounted for
#: every ``http://`` and ``https://`` URL of the client's session.
BASE_URL = "http://localhost:2375"
#: Idle dial-stdio channels kept for reuse. Each open channel counts against sshd's
#: ``MaxSessions`` (10 by default) together with the SFTP session and running commands.
POOL_SIZE = 4
#: How long to wait for dial-stdio's exit status when it closed before sending anything.
_EXIT_WAIT = 2.0


class DialFailed(ConnectionError):
    """``docker system dial-stdio`` exited with an error before sending anything: the host was
    reached and the command failed there (no docker CLI, engine down, socket broken)."""

    def __init__(self, rc: int, stderr: str) -> None:
        self.rc = rc
        self.stderr = stderr
        super().__init__(f"`{DIAL_STDIO}` exited {rc} on the host: {stderr or 'no error output'}")


class ChannelSocket:
    """The parts of a socket that ``http.client``, urllib3 and docker-py use, over a channel."""

    def __init__(self, channel: paramiko.Channel) -> None:
        self._chan = channel
        self._received = False

    def sendall(self, data: bytes) -> None:
        self._chan.sendall(data)

    def send(self, data: bytes) -> int:
        return self._chan.send(data)

    def recv(self, n: int) -> bytes:
        """Up to ``n`` bytes; b"" at end of stream.

        Raises:
            DialFailed: dial-stdio exited with an error before sending anything (no docker
                CLI, engine down...), with the tail of its stderr as the reason.
        """
        data = self._chan.recv(n)
        if data:
            self._received = True
        elif not self._received:
            self._raise_if_dial_failed()
        return data

    def _raise_if_dial_failed(self) -> None:
        if not self._chan.status_event.wait(_EXIT_WAIT):
            return
        rc = self._chan.recv_exit_status()
        if rc == 0:
            return
        err = b""
        while self._chan.recv_stderr_ready():
            err += self._chan.recv_stderr(4096)
        raise DialFailed(rc, stderr_tail(err))

    def makefile(self, mode: str = "rb", *args: object, **kwargs: object) -> io.BufferedReader:
        """A buffered reader over the channel (``http.client`` reads responses through it).

        Closing the reader leaves the channel open, as with a real socket, so the HTTP
        connection can be kept alive for the next request.
        """
        if mode not in ("rb", "r"):
            raise ValueError(f"only binary reading is supported, not mode {mode!r}")
        return io.BufferedReader(ChannelReader(self))

    def settimeout(self, timeout: float | None) -> None:
        self._chan.settimeout(timeout)

    def gettimeout(self) -> float | None:
        return self._chan.gettimeout()

    def setsockopt(self, *args: object) -> None:
        """No socket options apply to a channel (urllib3 may still try to set some)."""

    def fileno(self) -> int:
        return self._chan.fileno()

    def shutdown(self, how: int) -> None:
        self._chan.shutdown(how)

    def close(self) -> None:
        self._chan.close()

    def usable(self) -> bool:
        """Whether an idle pooled connection can take another request.

        A checked-out connection is idle, so anything readable now (data or end of stream)
        means the other side gave up on it. Checked without ``select`` so idle channels do not
        each need a pipe file descriptor.
        """
        chan = self._chan
        return not (
            chan.closed or chan.eof_received or chan.exit_status_ready() or chan.recv_ready()
        )


class ChannelReader(io.RawIOBase):
    """The raw stream under a response's buffered reader.

    docker-py reaches for ``response.raw._fp.fp.raw`` to read multiplexed streams (``exec_run``,
    ``attach``) directly, so this also offers ``recv``, ``fileno`` and timeouts.
    """

    def __init__(self, sock: ChannelSocket) -> None:
        super().__init__()
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._sock.recv(len(view))
        view[: len(data)] = data
        return len(data)

    def recv(self, n: int) -> bytes:
        return self._sock.recv(n)

    def fileno(self) -> int:
        return self._sock.fileno()

    def settimeout(self, timeout: float | None) -> None:
        self._sock.settimeout(timeout)

    def gettimeout(self) -> float | None:
        return self._sock.gettimeout()


class DialStdioConnection(HTTPConnection):
    """An HTTP connection whose "socket" is a dial-stdio channel on the shared SSH connection."""

    def __init__(
        self, host: str, port: int | None = None, *, ssh: paramiko.Transport, **kwargs: Any
    ) -> None:
        super().__init__(host, port, **kwargs)
        self._ssh = ssh

    def _new_conn(self) -> socket.socket:
        timeout = self.timeout if isinstance(self.timeout, int | float) else None
        try:
            chan = self._ssh.open_session(timeout=timeout)
            chan.exec_command(DIAL_STDIO)
        except (paramiko.SSHException, EOFError, OSError) as e:
            raise NewConnectionError(self, f"cannot open an SSH channel for Docker: {e}") from e
        sock = ChannelSocket(chan)
        sock.settimeout(timeout)
        # http.client and urllib3 only use the socket surface ChannelSocket provides.
        return cast(socket.socket, sock)

    @property
    def is_connected(self) -> bool:
        sock = cast("ChannelSocket | None", self.sock)
        return sock is not None and sock.usable()


class DialStdioPool(HTTPConnectionPool):
    """A urllib3 pool of :class:`DialStdioConnection` (kwarg ``ssh`` reaches each one)."""

    ConnectionCls = DialStdioConnection


class DialStdioAdapter(requests.adapters.HTTPAdapter):
    """A requests adapter that sends every request over dial-stdio channels of one connection.

    One pool of at most :data:`POOL_SIZE` idle channels; more requests at once than that open
    extra channels that are closed after use (``block=False``). No proxies, no TLS: the channel
    is already encrypted and authenticated by SSH.
    """

    def __init__(self, ssh: paramiko.Transport, *, pool_size: int = POOL_SIZE) -> None:
        self._ssh = ssh
        self._pool_size = pool_size
        self._pool: DialStdioPool | None = None
        self._pool_lock = threading.Lock()
        super().__init__(max_retries=0)

    def _dial_pool(self) -> DialStdioPool:
        with self._pool_lock:
            if self._pool is None:
                self._pool = DialStdioPool(
                    "localhost", maxsize=self._pool_size, block=False, ssh=self._ssh
                )
            return self._pool

    def get_connection_with_tls_context(
        self,
        request: requests.PreparedRequest,
        verify: bool | str | None,
        proxies: dict[str, str] | None = None,
        cert: Any = None,
    ) -> HTTPConnectionPool:
        return self._dial_pool()

    def get_connection(self, url: str | bytes, proxies: dict[str, str] | None = None) -> Any:
        return self._dial_pool()

    def request_url(self, request: requests.PreparedRequest, proxies: dict[str, str] | None) -> str:
        """Always the origin-form path: there is no proxy between us and the engine."""
        return request.path_url

    def close(self) -> None:
        super().close()
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


def route_all(session: requests.Session, adapter: DialStdioAdapter) -> None:
    """Send every request of ``session`` through ``adapter``, ignoring proxy environment."""
    session.trust_env = False
    session.mount("http://", adapter)
    session.mount("https://", adapter)


def api_version(server: str | None, client_max: str) -> str:
    """The API version to speak: the server's, capped at the newest this docker-py knows.

    An unknown server version falls back to ``client_max`` (docker-py's default).
    """
    if not server:
        return client_max

    def key(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in v.split(".") if p.isdigit())

    return server if key(server) <= key(client_max) else client_max


def dial_failure(error: BaseException) -> DialFailed | None:
    """The :class:`DialFailed` behind what requests and docker-py raised, if any: they wrap
    the socket's error in their own (as an argument or as the cause) several layers deep."""
    seen: set[int] = set()
    todo: list[BaseException] = [error]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, DialFailed):
            return e
        todo.extend(a for a in e.args if isinstance(a, BaseException))
        todo.extend(c for c in (e.__cause__, e.__context__) if c is not None)
    return None


def open_docker_client(
    ssh: paramiko.Transport, *, host: str, where: str, timeout: float = 60.0
) -> DockerClient:
    """A ``docker.DockerClient`` whose requests travel over ``ssh`` (no new login).

    The API version is negotiated once with an unversioned ``GET /version`` over the same
    adapter, then the real client is built for that version.

    Raises:
        CommandFailed: ``docker system dial-stdio`` failed on the host (no docker CLI, dockerd
            down, its socket broken): the host was reached, the command failed.
        TransportError: the engine cannot be reached otherwise.
    """
    import docker  # lazy on purpose: see the module docstring

    adapter = DialStdioAdapter(ssh)
    try:
        probe = docker.APIClient(
            base_url=BASE_URL,
            version=docker.constants.MINIMUM_DOCKER_API_VERSION,
            timeout=timeout,
        )
        route_all(probe, adapter)
        server = probe.version(api_version=False)
        version = api_version(server.get("ApiVersion"), docker.constants.DEFAULT_DOCKER_API_VERSION)
        client = docker.DockerClient(base_url=BASE_URL, version=version, timeout=timeout)
        route_all(client.api, adapter)
        opened: DockerClient = client
    except (docker.errors.DockerException, requests.RequestException) as e:
        adapter.close()
        failed = dial_failure(e)
        if failed is not None:
            raise CommandFailed(host, DIAL_STDIO_ARGV, failed.rc, failed.stderr) from e
        raise TransportError(
            f"{where}: cannot reach the Docker engine over SSH (`{DIAL_STDIO}`): {e}"
        ) from e
    return opened
