# Sourced by the embedded-stack benchmarks (foreach_forms.sh, foreach_wall.sh, resume_wall.sh)
# after they set `root`, `bin` and `tools`: checks the binaries, makes a scratch folder removed
# on exit (with the `ferry up` whose pid the script puts in `up_pid`), a fresh FERRY_HOME and
# Metaflow config, a free loopback port in `port`, and the helpers `now` (epoch seconds) and
# `cpu_of PID` (CPU seconds, user + system, of a process and its reaped descendants).
for b in ferry task-wrapper; do
  [ -x "$bin/$b" ] || { echo "missing $bin/$b: cargo build -p ferry-cli -p task-wrapper" >&2; exit 1; }
done

work=$(mktemp -d)
up_pid=""
cleanup() {
  if [ -n "$up_pid" ]; then kill "$up_pid" 2>/dev/null || true; wait "$up_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

export PATH="$bin:$tools/venv/bin:$PATH"
export USER=${USER:-bench} METAFLOW_USER=${METAFLOW_USER:-bench}
export FERRY_HOME="$work/home" METAFLOW_HOME="$work/mfconfig"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

now() { python3 -c 'import time; print(time.time())'; }
cpu_of() { python3 -c 'import os,sys; f=open("/proc/%s/stat" % sys.argv[1]).read().rsplit(")",1)[1].split(); print(sum(int(x) for x in f[11:15]) / os.sysconf("SC_CLK_TCK"))' "$1"; }
