#!/usr/bin/env bash
# Start a private single-node SLURM cluster on 127.0.0.1 for tests/test_slurm.py.
#
#   bash tests/slurm/start.sh     # as root, on Debian; prints `export SLURM_CONF=...` last
#   bash tests/slurm/stop.sh      # stops what this script started, nothing else
#
# The cluster keeps to itself as far as SLURM allows: its config, state,
# logs and database live in $ZS_SLURM_DIR (default /var/lib/zooselect-slurm;
# clients find the config through SLURM_CONF), its daemons listen on their
# own ports (slurmctld 6917, slurmd 6918, slurmdbd 6919, MariaDB 3317). The
# daemons run in the foreground (no systemd needed), each started with its
# PID written to $ZS_SLURM_DIR/run/NAME.pid; stop.sh signals only those.
# Two things are shared with the machine, because SLURM's clients look only
# there: munge's default socket (a munged already answering on it is used
# and left alone; otherwise ours, with our key, serves it) and
# /etc/slurm/slurm.conf, made a link to our config only where no such file
# exists (srun inside a job reads that path); stop.sh removes the link.
#
# Accounting runs (MariaDB + slurmdbd), so `sacct` answers: the executor
# plugin polls job states with it, and the test reads its records.
# Two fake GPUs: gres/gpu needs a device file per GPU, so they are character
# devices that behave like /dev/null; a job that asks for a GPU gets
# CUDA_VISIBLE_DEVICES set, but torch sees no CUDA device and runs on the CPU.
#
# Exit status 3 means "SLURM cannot be set up here" (not root, no apt-get,
# packages unavailable): the test skips on it. Anything else non-zero is a failure.
set -euo pipefail

DIR=${ZS_SLURM_DIR:-/var/lib/zooselect-slurm}
GPUS=${ZS_SLURM_GPUS:-2}
PARTITION=debug
CLUSTER=zooselect
ACCOUNT=zooselect
CTLD_PORT=6917 SLURMD_PORT=6918 DBD_PORT=6919 DB_PORT=3317
CONF=$DIR/etc/slurm.conf
RUN=$DIR/run LOGS=$DIR/log
DB_SOCKET=$DIR/mysql-run/mariadb.sock
DB_PASSWORD=zooselect-local-test   # the database listens on 127.0.0.1 only

say() { printf '[slurm-start %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
cannot() { say "cannot set up SLURM here: $*"; exit 3; }
fail() { say "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || cannot "not root (installing packages and running slurmd need root)"
command -v apt-get >/dev/null || cannot "no apt-get (the harness installs Debian's packages)"
START=$(date +%s)

# ---- packages ------------------------------------------------------------
PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  # The packages' init scripts would start the system's own munge, slurm and
  # MariaDB; a policy-rc.d that says "no" keeps them from it (only ours, and
  # only while we install).
  policy=/usr/sbin/policy-rc.d made_policy=0
  if [ ! -e $policy ]; then
    printf '#!/bin/sh\nexit 101\n' >$policy && chmod +x $policy && made_policy=1
  fi
  trap '[ $made_policy = 1 ] && rm -f $policy' EXIT
  export DEBIAN_FRONTEND=noninteractive
  apt_log=$(mktemp /tmp/zooselect-slurm-apt.XXXXXX)
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >"$apt_log" 2>&1; then
    apt-get update -q >>"$apt_log" 2>&1 || true
    apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$apt_log" 2>&1 \
      || { tail -n 20 "$apt_log" >&2; cannot "apt-get install ${missing[*]} failed (log: $apt_log)"; }
  fi
  [ $made_policy = 1 ] && rm -f $policy
  trap - EXIT
  say "installed in $(($(date +%s) - START)) s"
fi

# ---- files ---------------------------------------------------------------
install -d -m 755 "$DIR" "$DIR/etc" "$RUN" "$LOGS" "$DIR/state" "$DIR/spool" "$DIR/gpu"
install -d -m 700 -o munge -g munge "$DIR/munge"
install -d -m 755 -o munge -g munge /run/munge
install -d -m 755 -o mysql -g mysql "$DIR/mysql-run"
KEY=$DIR/munge/munge.key
if [ ! -s "$KEY" ]; then
  dd if=/dev/urandom of="$KEY" bs=1024 count=1 status=none
  chown munge:munge "$KEY" && chmod 400 "$KEY"
fi
for ((i = 0; i < GPUS; i++)); do
  # The file's trailing digit becomes the job's CUDA_VISIBLE_DEVICES index.
  [ -c "$DIR/gpu/fakegpu$i" ] || mknod -m 666 "$DIR/gpu/fakegpu$i" c 1 3
done

HOST=$(hostname -s)
getent hosts "$HOST" >/dev/null || { say "adding $HOST to /etc/hosts"; echo "127.0.0.1 $HOST" >>/etc/hosts; }
# The node's CPU layout as slurmd sees it, else Slurm guesses sockets and complains.
HW=$(slurmd -C 2>/dev/null | head -n 1 || true)
field() { sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" <<<"$HW"; }
CPUS=$(nproc --all) SOCKETS=$(field SocketsPerBoard) CORES=$(field CoresPerSocket) THREADS=$(field ThreadsPerCore)
if [ -z "$SOCKETS" ] || [ -z "$CORES" ] || [ -z "$THREADS" ] || [ "$(field CPUs)" != "$CPUS" ]; then
  SOCKETS=1 CORES=$CPUS THREADS=1
fi
MEM=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 80 / 100))
GRES_NODE="" GRES_TYPES=""
[ "$GPUS" -gt 0 ] && GRES_NODE=" Gres=gpu:$GPUS" GRES_TYPES="GresTypes=gpu"

cat >"$CONF" <<EOF
# written by tests/slurm/start.sh: a private single-node cluster on 127.0.0.1
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$RUN/slurmctld.daemon.pid
SlurmdPidFile=$RUN/slurmd.daemon.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
# No cgroups in a container or VM without systemd: track processes by /proc.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$((MEM / CPUS))
ReturnToService=2
MinJobAge=300
KillWait=5
InactiveLimit=0
SlurmdTimeout=300
$GRES_TYPES
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
JobCompType=jobcomp/none
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS Boards=1 SocketsPerBoard=$SOCKETS CoresPerSocket=$CORES ThreadsPerCore=$THREADS RealMemory=$MEM$GRES_NODE State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
{
  echo "AutoDetect=off"
  [ "$GPUS" -gt 0 ] && echo "NodeName=$HOST Name=gpu File=$DIR/gpu/fakegpu[0-$((GPUS - 1))]"
} >"$DIR/etc/gres.conf"
cat >"$DIR/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$RUN/slurmdbd.daemon.pid
LogFile=$LOGS/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASSWORD
StorageLoc=zooselect_slurm_acct
EOF
chmod 600 "$DIR/etc/slurmdbd.conf"
export SLURM_CONF=$CONF
# Inside a job, Snakemake's jobstep plugin drops every SLURM_* variable
# (SLURM_CONF too) before it calls srun, which then reads the default
# /etc/slurm/slurm.conf: point that at ours, unless it is someone else's.
SYSTEM_CONF=/etc/slurm/slurm.conf
if [ -L $SYSTEM_CONF ] && [ "$(readlink $SYSTEM_CONF)" = "$CONF" ]; then
  :
elif [ -e $SYSTEM_CONF ] || [ -L $SYSTEM_CONF ]; then
  cannot "$SYSTEM_CONF exists and is not this harness's (a SLURM is configured on this machine)"
else
  mkdir -p /etc/slurm && ln -s "$CONF" $SYSTEM_CONF
fi

# ---- daemons -------------------------------------------------------------
# running NAME: true when $RUN/NAME.pid names a live process called NAME
running() {
  local pid
  pid=$(cat "$RUN/$1.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ]
}
start() { # NAME COMMAND... : a foreground daemon in the background, its PID recorded
  local name=$1
  shift
  if running "$name"; then say "$name already running (ours)"; return; fi
  nohup "$@" >>"$LOGS/$name.out" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
  say "started $name (pid $!)"
}
wait_until() { # SECONDS WHAT COMMAND...
  local deadline=$(($(date +%s) + $1)) what=$2
  shift 2
  while [ "$(date +%s)" -lt "$deadline" ]; do
    timeout 10 "$@" >/dev/null 2>&1 && return 0
    sleep 0.25
  done
  for f in "$LOGS"/*; do echo "== $f" >&2; tail -n 15 "$f" >&2; done
  fail "timed out waiting for $what"
}
mariadb_() { mariadb --socket="$DB_SOCKET" "$@"; }

# Slurm's clients reach munge on its default socket only, so a munged that
# already answers there is used (and left alone); otherwise ours serves it.
# setpriv execs munged, so $! is munged's own PID.
if running munged || ! (munge -n | unmunge) >/dev/null 2>&1; then
  start munged setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F --key-file="$KEY" \
    --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/seed"
else
  say "a munged not started by this script answers on the default socket: using it"
fi
wait_until 20 munged bash -c "munge -n | unmunge"

if [ ! -d "$DIR/mysql/mysql" ]; then
  install -d -m 750 -o mysql -g mysql "$DIR/mysql"
  mariadb-install-db --user=mysql --datadir="$DIR/mysql" --skip-test-db >"$LOGS/mariadb-install.log" 2>&1 \
    || fail "mariadb-install-db failed (log: $LOGS/mariadb-install.log)"
fi
start mariadbd /usr/sbin/mariadbd --user=mysql --datadir="$DIR/mysql" --socket="$DB_SOCKET" \
  --port=$DB_PORT --bind-address=127.0.0.1 --pid-file="$DIR/mysql-run/mariadbd.pid" \
  --log-error="$LOGS/mariadb.err" --innodb-buffer-pool-size=64M --skip-name-resolve
wait_until 60 mariadb mariadb-admin --socket="$DB_SOCKET" ping
mariadb_ -e "CREATE DATABASE IF NOT EXISTS zooselect_slurm_acct;
  CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
  CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
  GRANT ALL ON zooselect_slurm_acct.* TO 'slurm'@'127.0.0.1';
  GRANT ALL ON zooselect_slurm_acct.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"

start slurmdbd /usr/sbin/slurmdbd -D
wait_until 60 slurmdbd sacctmgr -n list cluster
sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER" || sacctmgr -i add cluster "$CLUSTER" >/dev/null
sacctmgr -n -P list account format=account | grep -qx "$ACCOUNT" \
  || sacctmgr -i add account "$ACCOUNT" Cluster="$CLUSTER" Description=tests Organization=zooselect >/dev/null
sacctmgr -n -P list assoc user=root account="$ACCOUNT" format=user | grep -qx root \
  || sacctmgr -i add user root Account="$ACCOUNT" DefaultAccount="$ACCOUNT" >/dev/null

start slurmctld /usr/sbin/slurmctld -D -i
wait_until 60 slurmctld scontrol ping
start slurmd /usr/sbin/slurmd -D
usable() { sinfo -h -n "$HOST" -o %T | grep -Eq '^(idle|mixed|allocated|completing)'; }
for ((k = 0; k < 120; k++)); do
  usable && break
  # A node drained by an earlier bad registration stays so across restarts.
  case "$(sinfo -h -n "$HOST" -o %T 2>/dev/null)" in
    *drain* | down* | inval* | fail*) scontrol update NodeName="$HOST" State=RESUME 2>/dev/null || true ;;
  esac
  sleep 0.5
done
usable || { sinfo -N -l >&2; tail -n 20 "$LOGS/slurmd.log" "$LOGS/slurmctld.log" >&2; fail "node $HOST did not come up"; }
say "cluster up in $(($(date +%s) - START)) s: $(sinfo -h -o '%P %D %c cpus %m MB %G')"
echo "export SLURM_CONF=$CONF"
