"""The nftables firewall resource, top to bottom: ``model`` (the typed ruleset), ``parse``
(``nft -j`` output → model), ``compile`` (policy → model and nft text), ``diff``, ``findings``
(other tables' rules worth a person's attention), ``lint`` (policy-time checks) and ``resource``
(read → diff → apply with commit-confirm)."""
