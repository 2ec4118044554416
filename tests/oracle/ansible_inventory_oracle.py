"""Run ``ansible-inventory --list`` for many corpus cases in one process (the test oracle).

Runs with the oracle venv's Python (ansible-core is GPL: it is never imported by
checkpointctl nor installed in its venv). Importing ansible costs about a second, so this
imports it once and forks one child per case. Input (stdin): a JSON list of jobs
``{"cwd": DIR, "args": [...], "passwords": [[LABEL|null, PASSWORD], ...]}``; output (stdout):
a JSON list of ``{"rc": N, "list": DOC|null, "stderr": TEXT}``. In ``list``, vaulted values
(which ansible-inventory prints as ciphertext, ``{"__ansible_vault": …}``) are replaced by
their plaintext, decrypted with ansible's own VaultLib, so the test compares plaintexts.
"""

from __future__ import annotations

import json
import os
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


def _run(job: dict, out: t.IO[bytes], err: t.IO[bytes]) -> dict:
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
    rc = os.waitstatus_to_exitcode(status)
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
