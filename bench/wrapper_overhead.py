"""Time the task wrapper's own overhead per task, and Metaflow's bash bootstrap the same way.

For each run: t0 = just before spawning; the step (`date +%s%N`) prints t1, the moment it
started; t2 = when the spawned process has exited and been reaped. The same is measured for the
bare step spawned directly (the baseline: process creation and `date` itself), and:

  start overhead = (t1 - t0) - baseline (t1 - t0)   # wrapper start to exec of the step
  end overhead   = (t2 - t1) - baseline (t2 - t1)   # step exit to wrapper exit

Wrapper: `task-wrapper run --task file://…/tasks/<sha>.json`, a generic step with one parent,
local datastore (logs written there), package already in the host cache.
Bootstrap: the bash command Metaflow's Batch/SFN tasks run (contract metaflow-sfn §3): logs dir,
mflog exports and shell function, package "download" (a `python -c 'import boto3 …'` local copy
standing in for the S3 download, without network), tar extraction, `save_logs` flush, the step
under two `python -m metaflow.mflog.tee` processes, final `save_logs`. Pip install skipped.
"""
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 30
WRAPPER = os.environ["TASK_WRAPPER"]
PY_BIN = os.path.dirname(sys.executable)

tmp = tempfile.mkdtemp(prefix="ferry-bench-")
blobs, ds, cache = (os.path.join(tmp, d) for d in ("blobs", "datastore", "cache"))
for d in (blobs, ds, cache):
    os.makedirs(d)

buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w:gz") as tf:
    body = b"# flow file\n"
    info = tarfile.TarInfo("flow.py")
    info.size = len(body)
    tf.addfile(info, io.BytesIO(body))
pkg = buf.getvalue()
sha = hashlib.sha256(pkg).hexdigest()
os.makedirs(os.path.join(blobs, "code"))
pkg_path = os.path.join(blobs, "code", sha + ".tgz")
with open(pkg_path, "wb") as f:
    f.write(pkg)

desc = {
    "version": 1, "flow": "BenchFlow", "step": "body", "flow_file": "flow.py",
    "code_package": {"key": "code/%s.tgz" % sha, "sha256": sha},
    "command": {"kind": "argv", "argv": ["/bin/date", "+%s%N"]},
    "environment": {}, "retries": {"max_user_code_retries": 0, "total_attempts": 1},
    "metadata": {"kind": "local"}, "datastore": {"kind": "local", "root": ds},
    "blobs": {"dir": {"path": blobs}}, "state_table": {"sqlite": {"path": os.path.join(tmp, "t.sqlite")}},
    "production_token": "benchflow-0-x", "owner": "bench", "tags": [],
    "inputs": {"kind": "parent", "step": "start"},
}
raw = json.dumps(desc).encode()
dsha = hashlib.sha256(raw).hexdigest()
os.makedirs(os.path.join(blobs, "tasks"))
desc_path = os.path.join(blobs, "tasks", dsha + ".json")
with open(desc_path, "wb") as f:
    f.write(raw)
url = "file://" + desc_path

base_env = dict(os.environ, PATH=PY_BIN + ":" + os.environ.get("PATH", ""), FERRY_CACHE_DIR=cache,
                FERRY_RUN_ID="bench", AWS_BATCH_JOB_ATTEMPT="1", FERRY_PARENT_TASK_ID="p")

BOOTSTRAP = r"""
mkdir -p $PWD/.logs && export PYTHONUNBUFFERED=x MF_PATHSPEC=BenchFlow/sfn-bench/body/$AWS_BATCH_JOB_ID MF_DATASTORE=local MF_DATASTORE_ROOT=$BENCH_DS/.metaflow MF_ATTEMPT=0 MFLOG_STDOUT=$PWD/.logs/mflog_stdout MFLOG_STDERR=$PWD/.logs/mflog_stderr \
&& mflog(){ T=$(date -u -Ins|tr , .); echo "[MFLOG|0|${T:0:26}Z|task|$T]$1" >> $MFLOG_STDOUT; echo $1;  } \
&& flush_mflogs(){ python -m metaflow.mflog.save_logs; } \
&& mflog 'Setting up task environment.' \
&& mkdir metaflow && cd metaflow && mkdir .metaflow \
&& i=0; while [ $i -le 5 ]; do mflog 'Downloading code package...'; python -c 'import boto3, shutil, sys; shutil.copy(sys.argv[1], "job.tar")' "$BENCH_PKG" && mflog 'Code package downloaded.' && break; sleep 10; i=$((i+1)); done \
&& if [ $i -gt 5 ]; then mflog 'Failed to download code package. Exiting...' && exit 1; fi \
&& TAR_OPTIONS='--warning=no-timestamp' tar -xzf job.tar -C . \
&& export PYTHONPATH=$(pwd)/.mf_code:$(printenv PYTHONPATH) && export METAFLOW_EXTRACTED_ROOT=$(pwd) \
&& mflog 'Task is starting.' && flush_mflogs >/dev/null \
&& (date +%s%N) 1>> >(python -m metaflow.mflog.tee task $MFLOG_STDOUT) 2>> >(python -m metaflow.mflog.tee task $MFLOG_STDERR >&2); \
c=$?; python -m metaflow.mflog.save_logs >/dev/null; exit $c
"""


def timed(argv, env, cwd):
    t0 = time.time_ns()
    p = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t2 = time.time_ns()
    if p.returncode != 0:
        sys.exit("failed: %r\n%s\n%s" % (argv, p.stdout.decode(), p.stderr.decode()))
    t1 = int([l for l in p.stdout.decode().split() if l.isdigit()][-1])
    return (t1 - t0) / 1e6, (t2 - t1) / 1e6


def series(kind, i):
    env = dict(base_env, AWS_BATCH_JOB_ID="job-%s-%d" % (kind, i))
    if kind == "bare":
        return timed(["/bin/date", "+%s%N"], env, tmp)
    if kind == "wrapper":
        return timed([WRAPPER, "run", "--task", url], env, tmp)
    work = tempfile.mkdtemp(dir=tmp)  # a fresh container
    env.update(BENCH_DS=ds, BENCH_PKG=pkg_path)
    return timed(["bash", "-c", BOOTSTRAP], env, work)


def run(kind, n):
    series(kind, -1)  # warm-up (fills the wrapper's package cache)
    return [series(kind, i) for i in range(n)]


def stats(xs):
    xs = sorted(xs)
    return statistics.median(xs), xs[int(0.9 * (len(xs) - 1))]


bare = run("bare", N)
b_start, _ = stats([s for s, _ in bare])
b_end, _ = stats([e for _, e in bare])
print("task overhead, %d runs each, ms (median / p90), minus a bare spawn of the step "
      "(%.2f ms to start, %.2f ms to reap)" % (N, b_start, b_end))
print("%-34s %18s %18s %18s" % ("", "start -> step exec", "step exit -> exit", "total"))
for kind, label in (("wrapper", "ferry task-wrapper (%s)" % os.path.basename(os.path.dirname(WRAPPER))),
                    ("bootstrap", "metaflow bash bootstrap")):
    runs = run(kind, N if kind == "wrapper" else max(5, N // 3))
    s = stats([a - b_start for a, _ in runs])
    e = stats([b - b_end for _, b in runs])
    t = stats([a + b - b_start - b_end for a, b in runs])
    print("%-34s %8.1f / %7.1f %8.1f / %7.1f %8.1f / %7.1f" % (label, s[0], s[1], e[0], e[1], t[0], t[1]))
shutil.rmtree(tmp, ignore_errors=True)
