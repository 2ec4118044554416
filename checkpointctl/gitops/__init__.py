"""Living in a Git repository of policies: what a change does, and keeping digests current.

- ``impact``: the desired state of every host at two revisions, diffed field by field
  (``gitrev`` reads a revision's files with git, ``snapshot`` renders them, ``impact`` is the
  pure diff and grouping; ``report.impact`` renders it).
- ``pin``: tags in policies resolved to digests through the registry HTTP API (``reference``
  parses image references, ``registry`` talks to the registry, ``yamlsplice`` rewrites one
  scalar in a YAML file and nothing else).
- ``scangate``: the scan gate's verdict for every image, from the repository's scan reports.

Nothing here touches a host: these are tools for the repository and the CI that guards it.
"""
