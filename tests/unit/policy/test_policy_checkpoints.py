"""Checkpoints and vendor profiles, from policy text to the typed desired state (no host).

Secrets here are left sealed (no vault key): a Secret of the ciphertext is enough to check where
each value goes; the lab suite (tests/integration/test_vendors.py) checks the agents read them.
"""

from __future__ import annotations

from pathlib import Path

from policy_helpers import DIGEST, errors, inventory, load, policy

from checkpointctl.errors import Severity
from checkpointctl.model import Secret
from checkpointctl.policy.checkpoints import check_depends_on
from checkpointctl.spec import ContainerSpec, DesiredState, state_to_data

VAULTED = "$CHECKPOINTCTL_VAULT;1;AES256GCM;scrypt\nAAAA"
REG = "registry.example.com"


def _uptrends(tmp: Path, extra: str = "", collection: str = "{profile: full}") -> DesiredState:
    path = policy(
        tmp / "p.yml",
        f"""\
        metadata: {{name: up}}
        spec:
          registries: {{trusted: [{{registry: {REG}, prefix: standin/}}]}}
          data_collection: {collection}
          firewall:
            management: {{from: [192.0.2.10/32]}}
            outbound: {{default: drop}}
          checkpoints:
            - name: ams
              vendor: uptrends
              settings:
                ServerId: "4711"
                Password: "{VAULTED.replace(chr(10), " ")}"
              containers:
                - name: checkpoint
                  image: {REG}/standin/cp@{DIGEST}
                - name: transactionprocessor
                  image: {REG}/standin/tp@{DIGEST}
        {extra}""",
    )
    result = load([path], inventory(tmp))
    assert not result.errors, errors(result)
    return result.states["cp-1"]


def _container(state: DesiredState, name: str) -> ContainerSpec:
    return next(c for c in state.containers if c.name == name)


def test_uptrends_expands_to_two_containers_in_start_order_on_their_network(
    tmp_path: Path,
) -> None:
    state = _uptrends(tmp_path)
    assert [c.name for c in state.containers] == ["ams-transactionprocessor", "ams-checkpoint"]
    cp = _container(state, "ams-checkpoint")
    assert cp.depends_on == ("ams-transactionprocessor",)
    assert cp.network == cp.network_mode == "checkpoint-ams"
    assert (cp.read_only, cp.cap_drop, cp.no_new_privileges, cp.user) == (
        True,
        ("ALL",),
        True,
        "10001:10001",
    )
    assert cp.logging is not None
    assert dict(cp.logging.options) == {"max-size": "10m", "max-file": "3"}
    volume = next(m for m in cp.mounts if m.kind == "volume")
    assert (volume.source, volume.read_only) == ("ams-certificates", True)
    env = dict(cp.env)
    assert env["ServerId"] == "4711"
    assert isinstance(env["Password"], Secret)
    assert env["AllowScreenshotsInResults"] == "true"
    assert not any(c.container.startswith("ams-") for c in state.collection)


def test_screenshots_off_sets_the_vendors_variable_and_render_says_where_it_came_from(
    tmp_path: Path,
) -> None:
    state = _uptrends(tmp_path, collection="{profile: full, screenshots: false}")
    cp = _container(state, "ams-checkpoint")
    assert dict(cp.env)["AllowScreenshotsInResults"] == "false"
    origin = dict(cp.origin)
    assert origin["env.AllowScreenshotsInResults"].startswith("data_collection.screenshots")
    assert origin["image"].startswith("policy ")
    assert origin["user"] == "vendor uptrends"
    assert "private-locations-data-protection" in origin["profile"]
    rendered = state_to_data(state)
    containers = rendered["containers"]
    assert isinstance(containers, list)
    assert "<sensitive>" in str(containers)
    assert VAULTED not in str(rendered)


def test_a_policy_override_wins_over_the_profile_field_by_field(tmp_path: Path) -> None:
    path = policy(
        tmp_path / "p.yml",
        f"""\
        metadata: {{name: up}}
        spec:
          registries: {{trusted: [{{registry: {REG}, prefix: standin/}}]}}
          checkpoints:
            - name: c
              vendor: checkly
              settings: {{API_KEY: "{VAULTED.replace(chr(10), " ")}", JOB_CONCURRENCY: "4"}}
              containers:
                - name: agent
                  image: {REG}/standin/agent@{DIGEST}
                  resources: {{memory: 2g}}
        """,
    )
    result = load([path], inventory(tmp_path))
    assert not result.errors, errors(result)
    agent = _container(result.states["cp-1"], "c-agent")
    assert agent.limits.memory == 2 * 1024**3
    assert agent.limits.pids == 512
    assert dict(agent.env)["JOB_CONCURRENCY"] == "4"
    assert dict(agent.origin)["resources.memory"].startswith("policy ")
    assert dict(agent.origin)["resources.pids"] == "vendor checkly"


def test_unenforceable_toggles_are_one_warning_naming_vendor_and_toggles(tmp_path: Path) -> None:
    path = policy(
        tmp_path / "p.yml",
        f"""\
        metadata: {{name: up}}
        spec:
          registries: {{trusted: [{{registry: {REG}, prefix: standin/}}]}}
          data_collection: {{profile: full, console_logs: false, resolved_ips: false}}
          checkpoints:
            - name: ams
              vendor: uptrends
              settings: {{ServerId: "1", Password: "{VAULTED.replace(chr(10), " ")}"}}
              containers:
                - {{name: checkpoint, image: "{REG}/standin/cp@{DIGEST}"}}
                - {{name: transactionprocessor, image: "{REG}/standin/tp@{DIGEST}"}}
        """,
    )
    result = load([path], inventory(tmp_path))
    warnings = [str(d) for d in result.warnings if d.rule == "vendor-toggle"]
    assert any("vendor uptrends cannot enforce data_collection.console_logs: false" in w
               for w in warnings)  # fmt: skip
    assert any("DNS monitors stop working" in w and "AllowResolvedIpAddressesInResults" in w
               for w in warnings)  # fmt: skip
    assert all(w.startswith("warning: ") and "p.yml:" in w for w in warnings)


def test_unknown_setting_plain_secret_missing_setting_are_errors(tmp_path: Path) -> None:
    path = policy(
        tmp_path / "p.yml",
        f"""\
        metadata: {{name: up}}
        spec:
          registries: {{trusted: [{{registry: {REG}, prefix: standin/}}]}}
          checkpoints:
            - name: nr
              vendor: newrelic
              settings: {{NOT_A_VARIABLE: x, HORDE_API_PROXY_PW: plain}}
              containers:
                - {{name: job-manager, image: "{REG}/standin/nr@{DIGEST}"}}
        """,
    )
    text = "\n".join(errors(load([path], inventory(tmp_path))))
    assert "documents no setting 'NOT_A_VARIABLE'" in text
    assert "HORDE_API_PROXY_PW' of vendor newrelic is a secret" in text
    assert "needs setting 'PRIVATE_LOCATION_KEY'" in text
    assert "p.yml:" in text


def test_newrelic_runs_root_only_under_a_waiver_with_the_documented_reason(
    tmp_path: Path,
) -> None:
    path = policy(
        tmp_path / "p.yml",
        f"""\
        metadata: {{name: up}}
        spec:
          registries: {{trusted: [{{registry: {REG}, prefix: standin/}}]}}
          checkpoints:
            - name: nr
              vendor: newrelic
              settings: {{PRIVATE_LOCATION_KEY: "{VAULTED.replace(chr(10), " ")}"}}
              containers:
                - {{name: job-manager, image: "{REG}/standin/nr@{DIGEST}"}}
        """,
    )
    result = load([path], inventory(tmp_path))
    assert not result.errors, errors(result)
    state = result.states["cp-1"]
    manager = _container(state, "nr-job-manager")
    assert manager.user == "0:0"
    waived = {w.rule: w for w in state.waivers if w.target == "nr-job-manager"}
    assert set(waived) == {"root-user", "docker-socket", "writable-mount"}
    assert "Docker engine" in waived["root-user"].reason
    assert "p.yml:" in waived["root-user"].source
    socket = next(m for m in manager.mounts if m.target == "/var/run/docker.sock")
    assert socket.read_only is False


def test_datadog_settings_become_its_secret_file_with_placeholders(tmp_path: Path) -> None:
    secret = VAULTED.replace(chr(10), " ")
    path = policy(
        tmp_path / "p.yml",
        f"""\
        metadata: {{name: up}}
        spec:
          registries: {{trusted: [{{registry: {REG}, prefix: standin/}}]}}
          firewall:
            management: {{from: [192.0.2.10/32]}}
          checkpoints:
            - name: dd
              vendor: datadog
              settings:
                id: pl
                site: datadoghq.eu
                publicKey.pem: pem
                publicKey.fingerprint: fp
                accessKey: "{secret}"
                secretAccessKey: "{secret}"
                privateKey: "{secret}"
              containers:
                - {{name: worker, image: "{REG}/standin/dd@{DIGEST}"}}
        """,
    )
    result = load([path], inventory(tmp_path))
    assert not result.errors, errors(result)
    state = result.states["cp-1"]
    (sf,) = state.secret_files
    assert sf.target == "/etc/datadog/synthetics-check-runner.json"
    assert sf.file_path == "/etc/checkpoint/secret-files/dd-worker_synthetics-check-runner.json"
    assert '"site": "datadoghq.eu"' in sf.template
    assert '"pem": "pem"' in sf.template
    assert "@@checkpointctl-secret-0@@" in sf.template
    assert len(sf.secrets) == 3
    assert (sf.uid, sf.gid) == (10001, 10001)
    worker = _container(state, "dd-worker")
    assert any(m.target == sf.target and m.read_only for m in worker.mounts)
    assert state.firewall is not None
    assert {h for r in state.firewall.outbound for h in r.hosts} == {
        "intake.synthetics.datadoghq.com",
        "intake-v2.synthetics.datadoghq.com",
    }


def test_depends_on_cycles_and_unknown_names_are_errors() -> None:
    found: list[str] = []
    containers = [
        {"name": "a", "depends_on": ["b"]},
        {"name": "b", "depends_on": ["a"]},
        {"name": "c", "depends_on": ["nope"]},
    ]
    check_depends_on(containers, lambda path, message, rule: found.append(message))
    assert any("cycle" in m for m in found)
    assert any("'nope'" in m for m in found)
    ordered = [{"name": "x", "depends_on": ["y"]}, {"name": "y"}]
    check_depends_on(ordered, lambda *a: found.append("unexpected"))
    assert [c["name"] for c in ordered] == ["y", "x"]


def test_host_network_in_a_checkpoint_is_refused(tmp_path: Path) -> None:
    path = policy(
        tmp_path / "p.yml",
        f"""\
        metadata: {{name: up}}
        spec:
          registries: {{trusted: [{{registry: {REG}, prefix: standin/}}]}}
          checkpoints:
            - name: g
              containers:
                - {{name: one, image: "{REG}/standin/x@{DIGEST}", network_mode: host}}
        """,
    )
    result = load([path], inventory(tmp_path))
    assert any("host network is refused" in e for e in errors(result))
    assert all(d.severity is Severity.ERROR for d in result.errors)


def test_a_generic_checkpoint_with_secret_files_decrypts_each_value_where_it_was_written(
    tmp_path: Path,
) -> None:
    from checkpointctl.policy.loader import load_desired
    from checkpointctl.resources.credentials.files import render_secret_file
    from checkpointctl.trust import vault

    key = vault.VaultKey.from_password(b"unit-test-passphrase")

    def seal(value: str, path: str) -> str:
        return vault.encrypt(value.encode(), key, path).replace("\n", " ")

    base = "checkpoints.own.containers"
    password = seal("pw-2", f"{base}.app.files[0].content.password")
    path = policy(
        tmp_path / "p.yml",
        f"""\
        metadata: {{name: own}}
        spec:
          registries: {{trusted: [{{registry: {REG}, prefix: standin/}}]}}
          data_collection: {{profile: standard}}
          checkpoints:
            - name: own
              network: shared-net
              containers:
                - name: db
                  image: {REG}/standin/db@{DIGEST}
                  user: "2001:2001"
                  cap_drop: [ALL]
                  logging: {{driver: local, max_size: 5m}}
                  volumes: [{{name: own-data, target: /data, read_only: false}}]
                - name: app
                  image: {REG}/standin/app@{DIGEST}
                  user: "2000:2000"
                  cap_drop: [ALL]
                  depends_on: [db]
                  env: {{TOKEN: "{seal("tok-1", f"{base}.app.env.TOKEN")}"}}
                  files:
                    - path: /etc/app/config.yaml
                      format: yaml
                      content: {{user: app, password: "{password}"}}
                    - path: /etc/app/ca.pem
                      content: "{seal("PEM-3", f"{base}.app.files[1].content")}"
        """,
    )

    def decrypt(text: str, at: str) -> Secret:
        return Secret(vault.decrypt(text, key, at))

    result = load_desired([str(path)], inventory(tmp_path), decrypt=decrypt)
    assert not result.errors, errors(result)
    state = result.states["cp-1"]
    assert [c.name for c in state.containers] == ["own-db", "own-app"]
    app, db = _container(state, "own-app"), _container(state, "own-db")
    assert app.network == db.network == "shared-net"
    assert app.depends_on == ("own-db",)
    assert db.logging is not None
    assert db.logging.driver == "local"
    assert next(m for m in db.mounts if m.kind == "volume").read_only is False
    token = dict(app.env)["TOKEN"]
    assert isinstance(token, Secret)
    assert token.reveal() == b"tok-1"
    config, ca = sorted(state.secret_files, key=lambda f: f.target)[::-1]
    assert (config.format, ca.format) == ("yaml", "text")
    assert render_secret_file(config) == b'password: "pw-2"\nuser: app\n'
    assert render_secret_file(ca) == b"PEM-3"
    assert (config.uid, config.gid) == (2000, 2000)
    assert any(c.container == "own-app" for c in state.collection)  # not a vendor: it has one


def test_schema_and_paths_refuse_what_checkpoints_do_not_support(tmp_path: Path) -> None:
    bad_vendor = policy(
        tmp_path / "a" / "p.yml",
        """\
        metadata: {name: a}
        spec:
          checkpoints:
            - {name: x, vendor: pingdom, surprise: 1}
        """,
    )
    text = "\n".join(errors(load([bad_vendor], inventory(tmp_path))))
    assert "p.yml:6:25: spec.checkpoints[0].vendor" in text
    assert "pingdom" in text
    assert "surprise" in text
    bad_file = policy(
        tmp_path / "b" / "p.yml",
        f"""\
        metadata: {{name: b}}
        spec:
          registries: {{trusted: [{{registry: {REG}, prefix: standin/}}]}}
          containers:
            - name: c
              image: {REG}/standin/c@{DIGEST}
              user: "1:1"
              cap_drop: [ALL]
              logging: {{max_file: 0}}
              files:
                - {{path: /etc/../shadow, content: x}}
                - {{path: etc/relative, content: x}}
        """,
    )
    text = "\n".join(errors(load([bad_file], inventory(tmp_path))))
    assert "max_file" in text
    assert "etc/relative" in text
    clean = policy(
        tmp_path / "c" / "p.yml",
        f"""\
        metadata: {{name: c}}
        spec:
          registries: {{trusted: [{{registry: {REG}, prefix: standin/}}]}}
          containers:
            - name: c
              image: {REG}/standin/c@{DIGEST}
              user: "1:1"
              cap_drop: [ALL]
              files:
                - {{path: /etc/../shadow, content: x}}
                - {{path: /a/same, content: x}}
                - {{path: /b/same, content: y}}
        """,
    )
    text = "\n".join(errors(load([clean], inventory(tmp_path))))
    assert "'/etc/../shadow' is not a normalised path" in text
    assert "two secret files of 'c' are named 'same'" in text


def test_secrets_from_vaulted_inventory_variables_expand_without_being_copied() -> None:
    from checkpointctl.policy.checkpoints import expand_checkpoints

    token = Secret("from-ansible-vault")
    spec = {
        "checkpoints": [
            {"name": "c", "vendor": "checkly", "settings": {"API_KEY": token},
             "containers": [{"name": "agent", "image": f"{REG}/standin/a@{DIGEST}"}]},
        ]
    }  # fmt: skip
    expanded = expand_checkpoints(spec, {})
    assert [d for d in expanded.diagnostics if d.severity is Severity.ERROR] == []
    (agent,) = expanded.spec["containers"]
    assert agent["env"]["API_KEY"] is token
