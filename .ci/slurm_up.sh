#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine for the integration tests.
#
# Debian 12, run as root. Installs Debian's slurm-wlm and munge, starts
# munged, slurmctld and slurmd, and waits until the node is idle. Every
# daemon binds to 127.0.0.1 only. The configuration is written to
# /etc/slurm/slurm.conf, the default path of Debian's SLURM commands, so
# sbatch, squeue and sinfo find it without SLURM_CONF. State, spool and log
# files live under $IL_SLURM_DIR (default /tmp/impression-ci-slurm).
#
# Rerunning stops the daemons of the previous run and starts a fresh
# cluster with no jobs. Stop it with .ci/slurm_down.sh.
set -euo pipefail

SLURM_DIR="${IL_SLURM_DIR:-/tmp/impression-ci-slurm}"
SLURM_CONF_PATH=/etc/slurm/slurm.conf
CONF_MARKER="# Written by .ci/slurm_up.sh"
READY_TIMEOUT_S="${IL_SLURM_READY_TIMEOUT_S:-60}"

fail() {
    echo "slurm_up: error: $*" >&2
    exit 1
}

show_logs() {
    local log
    for log in "$SLURM_DIR/log/slurmctld.log" "$SLURM_DIR/log/slurmd.log" /var/log/munge/munged.log; do
        if [[ -f "$log" ]]; then
            echo "----- last lines of $log -----" >&2
            tail -n 40 "$log" >&2
        fi
    done
}

[[ "$(id -u)" -eq 0 ]] || fail "run as root (it installs packages and starts system daemons)"

start_ms=$(date +%s%3N)

# --- packages -------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    echo "slurm_up: installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends slurm-wlm munge
fi

# --- loopback check -------------------------------------------------------
# With CommunicationParameters=NoInAddrAny,NoCtldInAddrAny the daemons bind
# to the first IPv4 address that this host's name resolves to, instead of
# to every address, so that address must be a loopback one.
host=$(hostname -s)
host_address=$(getent ahostsv4 "$(hostname)" | awk 'NR == 1 { print $1 }')
if [[ "$host_address" != 127.* ]]; then
    fail "host name $(hostname) resolves to '${host_address:-nothing}', not a 127.x address, \
so the SLURM daemons would listen on the network; add '127.0.0.1 $(hostname) $host' to /etc/hosts"
fi

# --- stop the daemons of a previous run -------------------------------------
stop_pidfile() {
    local pidfile=$1 pid
    [[ -f "$pidfile" ]] || return 0
    pid=$(cat "$pidfile")
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$pidfile"
}
stop_pidfile "$SLURM_DIR/run/slurmd.pid"
stop_pidfile "$SLURM_DIR/run/slurmctld.pid"

# --- munge ----------------------------------------------------------------
if [[ ! -s /etc/munge/munge.key ]]; then
    echo "slurm_up: creating /etc/munge/munge.key"
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
chmod 0755 /run/munge

if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    echo "slurm_up: munged is already running"
else
    # munged talks only through its UNIX socket /run/munge/munge.socket.2.
    runuser -u munge -- /usr/sbin/munged
    mkdir -p "$SLURM_DIR/run"
    touch "$SLURM_DIR/run/munged.started-by-slurm_up"
    for _ in $(seq 50); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.1
    done
    munge -n | unmunge >/dev/null || { show_logs; fail "munged did not start"; }
fi

# --- slurm.conf -----------------------------------------------------------
if [[ -f "$SLURM_CONF_PATH" ]] && ! grep -qxF "$CONF_MARKER" "$SLURM_CONF_PATH"; then
    fail "$SLURM_CONF_PATH exists and was not written by this script; move it away to use the CI cluster"
fi

mkdir -p "$SLURM_DIR"/{state,spool,log,run}
# slurmd -C prints this machine's NodeName, CPUs, sockets, cores, threads and
# RealMemory (MiB) on its first line.
node_hardware=$(slurmd -C | head -n 1 | sed -e 's/^NodeName=[^ ]* //')

cat >"$SLURM_CONF_PATH" <<EOF
$CONF_MARKER
# Single-node CI cluster on 127.0.0.1; state under $SLURM_DIR.
ClusterName=impression-ci
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
MailProg=/bin/true
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# scontrol show job reports a finished job's state and exit code for 300 s.
MinJobAge=300
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldPidFile=$SLURM_DIR/run/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/run/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/log/slurmctld.log
SlurmdLogFile=$SLURM_DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=$host NodeAddr=127.0.0.1 $node_hardware State=UNKNOWN
PartitionName=ci Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
chmod 0644 "$SLURM_CONF_PATH"

# --- daemons --------------------------------------------------------------
# -c starts slurmctld without the jobs and node states of a previous run.
slurmctld -c || { show_logs; fail "slurmctld failed to start"; }
slurmd || { show_logs; fail "slurmd failed to start"; }

deadline=$(($(date +%s) + READY_TIMEOUT_S))
node_state=""
while (($(date +%s) < deadline)); do
    node_state=$(sinfo -h -N -n "$host" -o '%T' 2>/dev/null || true)
    [[ "$node_state" == idle ]] && break
    sleep 0.5
done
if [[ "$node_state" != idle ]]; then
    sinfo -N -l >&2 || true
    show_logs
    fail "node $host is '${node_state:-not reported}' after ${READY_TIMEOUT_S} s, not idle"
fi

elapsed_ms=$(($(date +%s%3N) - start_ms))
echo "slurm_up: node $host is idle after $((elapsed_ms / 1000)).$(printf %03d $((elapsed_ms % 1000))) s"
sinfo
echo "SLURM_CONF=$SLURM_CONF_PATH"
