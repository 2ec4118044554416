"""The safe-path check's shell functions, and the form in which a runner sends a script using them.

The check (:mod:`~checkpointctl.transport.safepath`) is fixed ``sh`` text that every script
touching a host's files starts with. A command run alone carries it. A runner that runs several
commands in one shell (the command batch, the kept shell, the held shell's requests: every
runner shares :data:`~checkpointctl.transport.framing.RUNNER`, which defines it) defines it once
and sends each such script without it (:func:`runner_form`): the same functions, parsed once
per shell instead of once per script, and ~2 KiB less per script on the wire. A script runs in a
subshell of the runner's shell, which inherits its functions, so it behaves exactly as alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from checkpointctl.transport import statshare

CHECK_FUNCTION = (
    r"""cp_chk() {
  cp_n=$1; shift
  cp_k=$#
  cp_i=0
  for cp_d do
    [ "$cp_i" -lt "$cp_n" ] || break
    cp_i=$((cp_i+1))
    set -- "$@" "$cp_d"
  done
  shift "$cp_k"
  cp_chks "$cp_i" "$@"
}
cp_chks() {
  cp_n=$1; shift
  cp_k=$#
  cp_i=0
  for cp_d do
    [ "$cp_i" -lt "$cp_n" ] || break
    cp_i=$((cp_i+1))
    cp_p=
    cp_r=${cp_d#/}/
    while [ -n "$cp_r" ]; do
      cp_c=${cp_r%%/*}; cp_r=${cp_r#*/}
      case $cp_c in ''|.) continue;; esac
      cp_p=$cp_p/$cp_c
      set -- "$@" "$cp_p"
    done
  done
  shift "$cp_n"
  cp_m=$((cp_k - cp_n))
  [ $# -gt 0 ] || return 0
  cp_st "$@"
  cp_meta=
  cp_bad=0
  cp_i=0
  while IFS= read -r cp_l; do
    [ -n "$cp_l" ] || continue
    cp_i=$((cp_i+1))
    cp_f=${cp_l%% *}; cp_l=${cp_l#* }
    cp_u=${cp_l%% *}; cp_l=${cp_l#* }
    cp_a=${cp_l%% *}; cp_l=${cp_l#* }
    cp_g=${cp_l%% *}; cp_x=${cp_l#* }
    if [ "$cp_i" -le "$cp_m" ]; then
      eval "cp_w=\${$cp_i}"
      [ "$cp_x" = "$cp_w" ] || return 2
      cp_meta="$cp_meta$cp_a $cp_u $cp_g
"
      continue
    fi
    cp_t=$((0x$cp_f & 61440))
    if [ "$cp_t" = 40960 ]; then echo "unsafe link - $cp_x"; cp_bad=1
    elif [ "$cp_t" != 16384 ]; then echo "unsafe type $cp_f $cp_x"; cp_bad=1
    elif [ "$cp_u" != 0 ]; then echo "unsafe owner $cp_u $cp_x"; cp_bad=1
    elif [ $((0$cp_a & 18)) != 0 ] && { [ $((0$cp_a & 512)) = 0 ] || [ $((0$cp_a & 2)) = 0 ]; }
    then echo "unsafe mode $cp_a $cp_x"; cp_bad=1
    fi
  done <<cp_EOF
$cp_o
cp_EOF
  [ "$cp_i" -ge "$cp_m" ] || return 2
  return "$cp_bad"
}
cp_mk() {
  cp_chk 1 "$1" || return 1
  [ -d "$1" ] && return 0
  (umask 022 && mkdir -p -- "$1") || return 2
  cp_chk 1 "$1"
}
"""
    + statshare.LOOKUP_FUNCTION
)
"""Fixed text. ``cp_chk N DIR...`` checks every directory on the path of each of the first ``N``
arguments (absent ones are fine: nothing below them exists) with one ``stat`` (``cp_st``: a
read that sets ``cp_shared=1`` may be answered from its batch's shared ``stat``, see
:mod:`~checkpointctl.transport.statshare`) and prints a line per violation; non-zero when there
is one (the arguments after the ``N`` are not its business: it is ``cp_chks`` with none of them).
``cp_mk DIR`` checks, creates what is missing (0755, by root),
and checks again. ``cp_chks N DIR... FILE...`` is ``cp_chk`` that also gives the ``mode uid gid``
of each FILE (one line each, in order, in ``$cp_meta``) from the same ``stat``: a read needs its
directories checked and its files' metadata, and one ``stat`` process serves both. The FILE lines
come first in ``stat``'s answer and each must name its FILE: one that vanished between listing
and ``stat`` is status 2, never a directory's line taken for a file's (``eval`` there only reads
the positional parameter of a computed number). The caller prints a FILE's metadata only after
the directories passed. ``stat``'s answer is read back from a here-document in this shell rather
than through a pipe, which would fork a second process per check. The mode rule: no group or
other write bit, except a world-writable directory with the sticky bit (others cannot replace
what root put there)."""


def runner_form(argv: Sequence[str]) -> tuple[str, ...]:
    """``argv`` as a runner sends it: ``sh -c SCRIPT`` or ``sh -c SCRIPT sh ARGS...`` (the
    forms the runner evaluates in a subshell of its own shell, rather than starting ``sh``)
    whose SCRIPT starts with :data:`CHECK_FUNCTION` without it (that shell defines it),
    anything else as it is (pure). Only that exact fixed prefix is cut: the rest of the script
    and every argument are sent unchanged."""
    if (
        len(argv) >= 3
        and argv[0] == "sh"
        and argv[1] == "-c"
        and (len(argv) == 3 or argv[3] == "sh")
        and argv[2].startswith(CHECK_FUNCTION)
    ):
        return (argv[0], argv[1], argv[2][len(CHECK_FUNCTION) :], *argv[3:])
    return tuple(argv)


__all__ = ["CHECK_FUNCTION", "runner_form"]
