"""Run ``ansible-inventory --list`` for many corpus cases in one process (the test oracle).

Runs with the oracle venv's Python (ansible-core is GPL: it is never imported by
checkpointctl nor installed in its venv). Importing ansible costs about a second, so this
imports it once and forks one child per case. Input (stdin): a JSON list of jobs
``{"cwd": DIR, "args": [...], "passwords": [[LABEL|null, PASSWORD], ...], "env": {...}}``
(``env``, optional: variables to add, such as ``ANSIBLE_CONFIG``; ansible reads its
configuration when imported, so such a job runs ``ansible-inventory`` as a process of its
own instead of a fork); output (stdout):
a JSON list of ``{"rc": N, "list": DOC|null, "stderr": TEXT}``. In ``list``, vaulted values
(which ansible-inventory prints as ciphertext, ``{"__ansible_vault": …}``) are replaced by
their plaintext, decrypted with ansible's own VaultLib, so the test compares plaintexts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import typing as t

from ansible.cli.inventory import main as inventory_main
from ansible.parsing.vault import VaultLib, VaultSecret


def _decrypt(value: object, vault: VaultLib) -> object:
    if isinstance(value, dict):
        if set(value) == {"__ansible_vault"}:
            return vault.decrypt(value["__ansible_vault"]).decode()
        return {k: _decrypt(v, vault) for k, v in value.items()}
    if isinstance(value, list):
        return [_decrypt(v, vault) for v in value]
    return value


def run(job: dict) -> dict:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        return _run(job, out, err)


def _own_process(job: dict, out: t.IO[bytes], err: t.IO[bytes]) -> int:
    command = os.path.join(os.path.dirname(sys.executable), "ansible-inventory")
    done = subprocess.run(
        [command, *job["args"]],
        cwd=job["cwd"],
        env={**os.environ, **job["env"]},
        stdout=out,
        stderr=err,
        check=False,
    )
    return done.returncode


def _run(job: dict, out: t.IO[bytes], err: t.IO[bytes]) -> dict:
    if job.get("env"):
        return _result(job, _own_process(job, out, err), out, err)
    pid = os.fork()
    if pid == 0:  # child: one ansible-inventory run
        os.chdir(job["cwd"])
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        code = 0
        try:
            inventory_main(["ansible-inventory", *job["args"]])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 99
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return _result(job, os.waitstatus_to_exitcode(status), out, err)


def _result(job: dict, rc: int, out: t.IO[bytes], err: t.IO[bytes]) -> dict:
    out.seek(0)
    err.seek(0)
    text = out.read().decode()
    listing = None
    if rc == 0:
        secrets = [(label or "default", VaultSecret(pw.encode())) for label, pw in job["passwords"]]
        listing = _decrypt(json.loads(text), VaultLib(secrets))
    return {"rc": rc, "list": listing, "stderr": err.read().decode(errors="replace")}


def main() -> None:
    jobs = json.load(sys.stdin)
    json.dump([run(job) for job in jobs], sys.stdout)


if __name__ == "__main__":
    main()
