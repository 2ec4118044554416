#!/bin/sh
# An old-style dynamic inventory: no _meta, so it is asked --host NAME for each host.
case "$1" in
  --list) printf '{"web": {"hosts": ["w1", "w2"], "vars": {"port": 80}}, "ungrouped": ["solo"]}\n' ;;
  --host)
    case "$2" in
      w1) printf '{"ansible_host": "192.0.2.10", "weight": 1}\n' ;;
      solo) printf '{"alone": true}\n' ;;
      *) printf '{}\n' ;;
    esac ;;
  *) exit 2 ;;
esac
