"""One ``stat`` per batch for every safe-path check of its reads.

Each read that goes through a checked directory (the path survey, the credentials and secret
files reads) runs the safe-path check
(:data:`~checkpointctl.transport.checkfunction.CHECK_FUNCTION`), and the check runs a ``stat``
of every directory on the way and of the files it reads. On a host a process costs more than
anything else a read does, and a cold drift's batch had three of them asking about mostly the
same directories.

So a batch holding such reads (:attr:`~checkpointctl.transport.base.Command.shares_stat`) first
runs one ``stat`` over everything their watches cover
(:func:`~checkpointctl.transport.base.watched`: each path, every directory on the way, every
match of each pattern), in the batch's own shell, before any command. The check's lookup
(``cp_st``) answers from it when it can: every path it asks about must be one the shared ``stat``
was given, and every answer must be a line of exactly the four fields the check reads. Anything
else (a path it was not given, a name with a newline, a line that does not parse) and the check
runs its own ``stat`` as before, so a wrong answer can only cost a process, never pass a check.

Only reads use it, and only while nothing could have changed: the lookup answers only scripts
that say they read (``cp_shared=1``), and the batch drops the shared answer before the first
command that may change the host (:attr:`~checkpointctl.transport.base.Command.changes_nothing`).
A write's check always runs its own ``stat``, right before the write.

Names with a newline are never given to the shared ``stat`` (its answer is read line by line), so
each of its lines is one name's. A line is taken for a path only when it ends in the path and
what comes before is four fields of digits: a longer name ending in `` PATH`` would leave a ``/``
there, as every name given is absolute. The shared answer lives in shell variables; one the
command's environment sets is trusted as much as that environment's ``PATH``, which already
names the ``stat`` every check runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from checkpointctl.transport.base import Command, watched

PREFETCH_FUNCTION = r"""cp_pf() {
  cp_n=$1; shift
  cp_i=0
  cp_pl='
'
  cp_l=
  cp_s=$IFS
  IFS=
  for cp_a do
    cp_i=$((cp_i+1))
    if [ "$cp_i" -le "$cp_n" ]; then
      set -- "$cp_a"
    else
      set -- $cp_a
    fi
    for cp_f do
      case $cp_f in *'
'*) continue;; esac
      [ "$cp_i" -le "$cp_n" ] || [ -e "$cp_f" ] || [ -L "$cp_f" ] || continue
      cp_l="$cp_l$cp_f
"
    done
  done
  IFS=$cp_s
  set -f
  cp_s=$IFS
  IFS='
'
  set -- $cp_l
  IFS=$cp_s
  set +f
  cp_pl="$cp_pl$cp_l"
  cp_ps=
  if [ $# -gt 0 ]; then
    cp_ps=$(stat -c '%f %u %a %g %n' -- "$@" 2>/dev/null)
  fi
  cp_ps="
$cp_ps
"
  unset cp_n cp_i cp_a cp_f cp_s cp_l
}
"""
"""Fixed text, defined in a batch that shares its ``stat``. ``cp_pf N PATH... PATTERN...``: the N
plain paths, then the patterns, each expanded here (no field splitting; only matches that exist
are kept, as the reads' own loops keep them). Sets ``$cp_pl`` (every name given, one per line,
between newlines) and ``$cp_ps`` (``stat``'s answer, between newlines). Names with a newline are
left out; the names are collected on lines and read back with field splitting on newlines only
and globbing off, so no name is expanded twice."""

LOOKUP_FUNCTION = r"""cp_st() {
  if [ "${cp_shared-}" = 1 ] && [ -n "${cp_ps-}" ]; then
    cp_o=
    cp_j=0
    for cp_q do
      case $cp_q in *'
'*) break;; esac
      case $cp_pl in *"
$cp_q
"*) ;; *) break;; esac
      cp_t=${cp_ps%%" $cp_q
"*}
      if [ "$cp_t" != "$cp_ps" ]; then
        cp_t=${cp_t##*'
'}
        case $cp_t in *[!0-9a-f\ ]*|' '*|*' '|*'  '*|*' '*' '*' '*' '*) break;; esac
        case $cp_t in *' '*' '*' '*) ;; *) break;; esac
        cp_o="$cp_o$cp_t $cp_q
"
      fi
      cp_j=$((cp_j+1))
    done
    [ "$cp_j" = $# ] && return 0
  fi
  cp_o=$(stat -c '%f %u %a %g %n' -- "$@" 2>/dev/null)
}
"""
"""Fixed text, part of the safe-path check. ``cp_st PATH...`` sets ``$cp_o`` to what
``stat -c '%f %u %a %g %n' -- PATH...`` prints: from the batch's shared answer when the calling
script reads (``cp_shared=1``) and every PATH was given to it (a given path without a line is
one that does not exist, for which ``stat`` prints nothing either), else from its own ``stat``."""


def prefetch_params(commands: Sequence[Command]) -> list[str]:
    """``cp_pf``'s arguments for the commands of a batch that share its ``stat`` (pure): the
    number of plain paths, the paths, the patterns; empty when no command shares it."""
    watches = [c.watch for c in commands if c.shares_stat and c.watch is not None]
    if not watches:
        return []
    plain, patterns = watched(watches)
    return [str(len(plain)), *plain, *patterns]
