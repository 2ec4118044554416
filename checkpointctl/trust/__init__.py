"""Trust: what lets a policy repo hold secrets and a host believe its instructions.

- :mod:`checkpointctl.trust.vault`: authenticated encryption of secrets in the policy repo
  (AES-256-GCM, scrypt or key-file keys, each value bound to its logical path).

Signing keys, bundles and verification (Ed25519) live beside it in this package. The package
imports nothing from ``engine``, ``resources`` or ``cli``; the CLI and the policy builder call
into it.
"""

DEFAULT_TRUST_DIR = "/etc/checkpoint/trust"
"""Where a host keeps its trusted keys. Defined here, not in ``store``, so the CLI can name it
in ``--help`` without importing the signing code (and ``cryptography``) to build its parser."""
