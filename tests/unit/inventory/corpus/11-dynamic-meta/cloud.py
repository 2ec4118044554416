#!/usr/bin/env python3
"""A dynamic inventory as cloud plugins write them: --list with _meta.hostvars."""

import json
import sys

LISTING = {
    "checkpoints": {"hosts": ["cp-1", "cp-2"], "vars": {"tier": "checkpoint"}, "children": ["eu"]},
    "eu": {"hosts": ["cp-3"], "vars": {"region": "eu"}},
    "bare": ["cp-1", "cp-4"],
    "empty": {"hosts": []},
    "_meta": {
        "hostvars": {
            "cp-1": {"ansible_host": "192.0.2.1", "tags": {"env": "prod"}},
            "cp-3": {"ansible_host": "192.0.2.3", "tier": "host-level"},
            "cp-4": {},
        }
    },
}
if sys.argv[1:] == ["--list"]:
    json.dump(LISTING, sys.stdout)
else:
    json.dump({}, sys.stdout)
