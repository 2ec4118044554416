"""From policy files to one typed :class:`~checkpointctl.spec.DesiredState` per host.

The pipeline is ``source`` (YAML with locations, size and alias limits) → ``schema`` (strict JSON
Schema) → ``templating`` (sandboxed Jinja2 per host) → ``layering`` (merge by priority) →
``lint`` (security rules, waivable) → ``build`` (frozen dataclasses). Every stage reports
:class:`~checkpointctl.errors.Diagnostic` values with ``path:line:col``; nothing raises halfway.
"""

from checkpointctl.policy.loader import LoadResult, load_desired, load_policies

__all__ = ["LoadResult", "load_desired", "load_policies"]
