"""Settings every unit test shares.

Hypothesis's per-example ``deadline`` (200 ms by default) is a timed assertion: on this shared
2-core machine a load spike alone fails it (``test_report_formats`` did, once). Speed is measured
by ``bench/``, never by tests, so no property test has a deadline; the fuzz limits that do
bound time (``tests/unit/hostile/test_fuzz_limits.py``) measure the loader call itself.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from hypothesis import settings

settings.register_profile("checkpointctl", deadline=None)
settings.load_profile("checkpointctl")


@pytest.fixture(autouse=True)
def _start_up_objects_collected_again() -> Iterator[None]:
    """``cli.main.main`` freezes what its start-up made for the rest of the process
    (``cli/startup.py``); a test process calls it many times, so each test gives them back."""
    yield
    gc.unfreeze()


@pytest.fixture(autouse=True)
def _no_ansible_config_of_the_machine(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Every command reads the Ansible config in effect, as Ansible does (``ansible.cfg``,
    ``ANSIBLE_*``; see ``inventory/ansiblecfg.py``). A unit test must not depend on the
    machine's or the developer's, so each one starts with an empty config and none of the
    variables; a test about the config sets its own."""
    from checkpointctl.inventory.ansible_settings import SETTINGS

    empty = tmp_path_factory.getbasetemp() / "empty-ansible.cfg"
    if not empty.exists():
        empty.write_text("")
    monkeypatch.setenv("ANSIBLE_CONFIG", str(empty))
    for setting in SETTINGS:
        for name in setting.env:
            monkeypatch.delenv(name, raising=False)
