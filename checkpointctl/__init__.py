"""checkpointctl: declarative configuration for fleets of private monitoring checkpoints.

Map of the package (imports point down only; ``tests/unit/test_layers.py`` keeps it so):

- ``cli``        the command line and the single error boundary (exit codes)
- ``engine``     plans and converges hosts: read, diff, apply, verify
- ``report``     renders a :class:`~checkpointctl.model.RunReport` (text, JSON, JUnit, Markdown)
- ``policy``     YAML with locations, JSON Schema, Jinja2 templating, layering, lint
- ``inventory``  Ansible inventories as Ansible reads them (YAML, INI, dynamic, group_vars,
                 Ansible Vault) and ``--limit`` patterns
- ``trust``      Ed25519 keys, signed bundles, the vault
- ``lab``        the local fleet used by the demo, the tests and the benchmarks
- ``resources``  one module per kind of host state (collection, credentials, firewall, containers)
- ``transport``  how commands and files reach a host (local, SSH)
- ``spec`` · ``model`` · ``errors``  pure data shared by everything above
"""

__version__ = "0.1.0"
