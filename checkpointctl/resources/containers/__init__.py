"""The containers resource, top to bottom: ``parse`` (Docker's inspect data → actual state),
``images`` (image references and scan verdicts), ``compile`` (desired container → create
arguments), ``diff`` and ``resource`` (read → diff → apply)."""
