#!/usr/bin/env bash
# Stop the SLURM daemons that .ci/slurm_up.sh started, and munged when
# slurm_up.sh started it rather than finding it running. Leaves the packages, /etc/slurm/slurm.conf and the logs
# under $IL_SLURM_DIR in place for inspection.
set -uo pipefail

SLURM_DIR="${IL_SLURM_DIR:-/tmp/impression-ci-slurm}"

stop_pidfile() {
    local name=$1 pidfile=$2 pid
    [[ -f "$pidfile" ]] || return 0
    pid=$(cat "$pidfile")
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "slurm_down: $name (pid $pid) did not stop after 5 s; sending SIGKILL" >&2
            kill -9 "$pid"
        fi
        echo "slurm_down: stopped $name (pid $pid)"
    fi
    rm -f "$pidfile"
}

stop_pidfile slurmd "$SLURM_DIR/run/slurmd.pid"
stop_pidfile slurmctld "$SLURM_DIR/run/slurmctld.pid"
if [[ -f "$SLURM_DIR/run/munged.started-by-slurm_up" ]]; then
    stop_pidfile munged /run/munge/munged.pid
    rm -f "$SLURM_DIR/run/munged.started-by-slurm_up"
fi
exit 0
