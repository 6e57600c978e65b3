#!/usr/bin/env bash
# Start a one-node Slurm cluster on localhost for the sweep tests (tests/test_sweep_slurm.py).
# Idempotent: installs Debian's slurm-wlm and munge only when missing, writes slurm.conf only
# when it is absent or was written by this script, starts only the daemons that are not running,
# then waits until `sinfo` shows the node idle. Needs root (CI and the dev machines run as root).
# Exit 0 when the cluster is up; otherwise one line on stderr saying what is missing, exit 1.
set -euo pipefail

MARK="# written by nn_accel tests/slurm/start-local-slurm.sh"
CONF=/etc/slurm/slurm.conf
NODE=localhost
LICENSES="${NNACCEL_SLURM_LICENSES:-vivado:1}"

die() { echo "start-local-slurm: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root to install and start slurm-wlm and munge (running as $(id -un))"

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
   || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    command -v apt-get >/dev/null || die "slurm-wlm/munge missing and no apt-get to install them"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null || die "apt-get update failed"
    apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null \
        || die "apt-get install slurm-wlm munge failed"
fi

# munge: a key (the package's postinst normally makes one), a socket directory, the daemon.
install -d -o munge -g munge -m 0700 /etc/munge /var/log/munge /var/lib/munge
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
    if command -v mungekey >/dev/null; then mungekey --create --keyfile=/etc/munge/munge.key
    else dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none; fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
fi
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged --force || die "munged did not start (see /var/log/munge/munged.log)"
    for _ in $(seq 20); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.5; done
    munge -n | unmunge >/dev/null 2>&1 || die "munged started but munge -n | unmunge fails"
fi

# slurm.conf: never replace one this script did not write.
if [ -e "$CONF" ] && ! head -n1 "$CONF" | grep -qxF "$MARK"; then
    die "$CONF exists and was not written by this script; not touching it"
fi
CPUS=$(nproc)
# slurmd drains a node that claims more memory than it has: leave 5 % for the OS.
MEM_MB=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.95}' /proc/meminfo)
install -d /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
NEW_CONF=$(cat <<CONF
$MARK
ClusterName=nnaccel-local
SlurmctldHost=$NODE
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
MinJobAge=600
Licenses=$LICENSES
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
)
CHANGED=0
if [ ! -e "$CONF" ] || [ "$(cat "$CONF")" != "$NEW_CONF" ]; then
    printf '%s\n' "$NEW_CONF" > "$CONF"
    CHANGED=1
fi

running() { pgrep -x "$1" >/dev/null; }
if running slurmctld && [ "$CHANGED" = 1 ]; then scontrol reconfigure || true; fi
running slurmctld || slurmctld || die "slurmctld did not start (see /var/log/slurm/slurmctld.log)"
for _ in $(seq 30); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 1; done
scontrol ping 2>/dev/null | grep -q UP || die "slurmctld is not answering (see /var/log/slurm/slurmctld.log)"
running slurmd || slurmd -N "$NODE" || die "slurmd did not start (see /var/log/slurm/slurmd.log)"

state() { sinfo -h -n "$NODE" -o %T 2>/dev/null | head -n1; }
for _ in $(seq 60); do
    case "$(state)" in
        idle|mixed|allocated|completing) echo "start-local-slurm: node $NODE $(state), licenses $LICENSES"; exit 0 ;;
        down*|drain*) scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true ;;
    esac
    sleep 1
done
die "node $NODE is '$(state)', not idle, after 60 s (see /var/log/slurm/slurmd.log)"
