#!/usr/bin/env bash
# The three Lambda functions as shipped: zip size per function (target: under 5 MB), and each
# bootstrap's time from process start to first handled event, locally, against a Python/boto3
# peer doing the same first event (bench/lambda_peer.py).
#
# 1. Installs cargo-lambda 1.9.2 (PyPI wheel, pulls ziglang) into .tools/lambda-venv (or
#    $FERRY_LAMBDA_VENV) if absent: a bench-only venv (~470 MB), not part of scripts/setup-tools.
# 2. `cargo lambda build --release --x86-64 --output-format zip -p metadata-api -p deploy -p events`, in its
#    own target dir ($FERRY_LAMBDA_TARGET_DIR, default target/lambda-build) so it does not
#    wait on the debug builds of the shared target. Cold: 10+ minutes on 2 busy cores.
# 3. Sizes of target/lambda/<fn>/bootstrap.zip and of the bootstrap inside it.
# 4. Starts a private moto server and runs bench/lambda_startup.py on the unzipped bootstraps:
#    a local Lambda Runtime API emulator hands each process one event (metadata-api: API
#    Gateway v2 `GET /flows` over 20 flows in DynamoDB; deploy: S3 ObjectCreated of a real
#    first deploy of a 2-step flow; events: a @trigger rule's delivery of a Ferry event to a
#    flow deployed once through the deploy bootstrap, which starts one run on moto's Step
#    Functions) and times spawn -> first GET /next -> response POST.
#    Then one more (untimed) round under moto's request recorder counts each variant's AWS
#    calls, to show that the Python peer makes the same calls as the Rust function.
#
# Usage: bench/lambda.sh [runs]   (from anywhere; default 10 runs per variant; needs .tools
#        from scripts/setup-tools; PyPI for the one-off cargo-lambda install)
#        FERRY_LAMBDA_NO_BUILD=1 bench/lambda.sh   measures the zips already built.
# Results: printed; the startup rows also go to $FERRY_LAMBDA_TARGET_DIR/lambda-startup.json.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-10}
tools="${FERRY_TOOLS:-$root/.tools}"
py="$tools/venv/bin/python"
lvenv="${FERRY_LAMBDA_VENV:-$tools/lambda-venv}"
target="${FERRY_LAMBDA_TARGET_DIR:-$root/target/lambda-build}"

have=$("$lvenv/bin/python" -m pip show cargo-lambda 2>/dev/null | sed -n 's/^Version: //p' || true)
if [ "$have" != 1.9.2 ]; then
  python3 -m venv "$lvenv"
  "$lvenv/bin/python" -m pip install -q --disable-pip-version-check cargo-lambda==1.9.2
fi
export PATH="$lvenv/bin:$PATH"   # cargo-lambda and `python3 -m ziglang`

if [ -z "${FERRY_LAMBDA_NO_BUILD:-}" ]; then
  start=$(date +%s)
  (cd "$root" && CARGO_TARGET_DIR="$target" cargo lambda build -q --release --x86-64 \
    --output-format zip -p metadata-api -p deploy -p events)
  echo "build: $(($(date +%s) - start)) s (cargo lambda build --release --x86-64, target $target)"
fi

work=$(mktemp -d /tmp/ferry-lambda-bench.XXXXXX)
moto=
trap '[ -n "$moto" ] && kill "$moto" 2>/dev/null; rm -rf "$work"' EXIT

echo
echo "| function | bootstrap.zip | bootstrap (unzipped) | zip vs 5 MB target |"
echo "|---|---|---|---|"
for fn in metadata-api deploy events; do
  zip="$target/lambda/$fn/bootstrap.zip"
  mkdir -p "$work/$fn"
  "$py" - "$zip" "$work/$fn" "$fn" <<'PY'
import os, sys, zipfile
zip_path, dest, fn = sys.argv[1:]
with zipfile.ZipFile(zip_path) as z:
    names = z.namelist()
    assert names == ["bootstrap"], names
    z.extractall(dest)
path = os.path.join(dest, "bootstrap")
os.chmod(path, 0o755)
zs, bs = os.path.getsize(zip_path), os.path.getsize(path)
mb = lambda n: f"{n / 1e6:.2f} MB ({n:,} B)"
print(f"| {fn} | {mb(zs)} | {mb(bs)} | {zs / 5e6:.0%} of 5 MB: {'under' if zs < 5e6 else 'OVER'} |")
PY
done
echo

port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
MOTO_RECORDER_FILEPATH="$work/rec.jsonl" "$tools/venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto=$!
url="http://127.0.0.1:$port"
for _ in $(seq 100); do "$py" -c "import urllib.request; urllib.request.urlopen('$url/moto-api/')" 2>/dev/null && break; sleep 0.2; done
echo "moto $("$py" -c 'import moto; print(moto.__version__)') at $url; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$py" "$root/bench/lambda_startup.py" --moto "$url" --runs "$runs" --python "$py" \
  --metadata "$work/metadata-api/bootstrap" --deploy "$work/deploy/bootstrap" \
  --events "$work/events/bootstrap" \
  --json "$target/lambda-startup.json" --recorder "$work/rec.jsonl"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
