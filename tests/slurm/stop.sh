#!/usr/bin/env bash
# Stop the daemons that tests/slurm/start.sh started, and nothing else.
#
# Only the PIDs it recorded in $ZS_SLURM_DIR/run/NAME.pid are signalled, and
# only while that process is still called NAME (a PID reused by another
# program is left alone). Jobs still on the cluster are cancelled first, so
# that no job step outlives slurmd. The /etc/slurm/slurm.conf link start.sh
# made is removed. The cluster's state and accounting
# database stay in $ZS_SLURM_DIR for the next start.
set -uo pipefail

DIR=${ZS_SLURM_DIR:-/var/lib/zooselect-slurm}
RUN=$DIR/run
export SLURM_CONF=$DIR/etc/slurm.conf
say() { printf '[slurm-stop %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

ours() { # NAME -> prints the PID when $RUN/NAME.pid names a live process called NAME
  local pid
  pid=$(cat "$RUN/$1.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] && echo "$pid"
}

if ours slurmctld >/dev/null && timeout 10 scontrol ping >/dev/null 2>&1; then
  jobs=$(timeout 10 squeue -h -o %i 2>/dev/null | tr '\n' ' ')
  if [ -n "${jobs// /}" ]; then
    say "cancelling jobs $jobs"
    # shellcheck disable=SC2086
    timeout 10 scancel $jobs 2>/dev/null || true
    for ((k = 0; k < 40; k++)); do
      [ -z "$(timeout 10 squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.25
    done
  fi
fi

for name in slurmd slurmctld slurmdbd mariadbd munged; do # reverse start order
  if pid=$(ours "$name"); then
    say "stopping $name (pid $pid)"
    kill -TERM "$pid"
    for ((k = 0; k < 80; k++)); do
      [ -d "/proc/$pid" ] || break
      sleep 0.25
    done
    if [ -d "/proc/$pid" ]; then
      say "$name (pid $pid) still running after 20 s: SIGKILL"
      kill -KILL "$pid"
    fi
  fi
  rm -f "$RUN/$name.pid"
done
# The link start.sh made (and only that).
if [ -L /etc/slurm/slurm.conf ] && [ "$(readlink /etc/slurm/slurm.conf)" = "$SLURM_CONF" ]; then
  rm -f /etc/slurm/slurm.conf
fi
