#!/usr/bin/env bash
# AWS API calls of one deploy, counted on a private moto server with its request recorder.
# Runs the deploy Lambda's one-deploy moto test (functions/deploy, moto_tests::
# uploaded_wrapper_hashes_make_tasks_bootstrap_the_wrapper) and classifies every request the
# Rust SDK sent (boto3 set-up/verification calls are left out by User-Agent).
# Usage: bench/aws_calls.sh   (from the repository root; needs .tools from scripts/setup-tools)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py="$root/.tools/venv/bin/python"
work=$(mktemp -d)
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
MOTO_RECORDER_FILEPATH="$work/rec.jsonl" "$root/.tools/venv/bin/moto_server" -H 127.0.0.1 -p "$port" 2>"$work/moto.log" &
moto=$!
trap 'kill $moto 2>/dev/null; rm -rf "$work"' EXIT
url="http://127.0.0.1:$port"
for _ in $(seq 100); do "$py" -c "import urllib.request; urllib.request.urlopen('$url/moto-api/')" 2>/dev/null && break; sleep 0.2; done
"$py" - "$url" <<'PY'
import sys, urllib.request as u
url = sys.argv[1]
u.urlopen(u.Request(url + "/moto-api/config", data=b'{"stepfunctions":{"execute_state_machine":true},"batch":{"use_docker":false}}', headers={"Content-Type": "application/json"})).read()
u.urlopen(u.Request(url + "/moto-api/recorder/start-recording", data=b"", method="POST")).read()
PY
(cd "$root" && FERRY_MOTO_URL="$url" FERRY_TOOLS="$root/.tools" cargo test -q -p deploy --bin deploy \
  moto_tests::uploaded_wrapper_hashes_make_tasks_bootstrap_the_wrapper -- --exact >/dev/null)
"$py" - "$work/rec.jsonl" <<'PY'
import collections, json, sys
calls = collections.Counter()
for line in open(sys.argv[1]):
    e = json.loads(line)
    h = {k.lower(): v for k, v in e["headers"].items()}
    if "aws-sdk-rust" not in h.get("user-agent", "") and "aws-sdk-rust" not in h.get("x-amz-user-agent", ""):
        continue
    auth = h.get("authorization", "")
    service = auth.split("Credential=")[1].split("/")[3] if "Credential=" in auth else "?"
    target = h.get("x-amz-target", "")
    if target:
        op = target.split(".")[-1]
    elif service == "s3":
        op = {"GET": "GetObject/List", "PUT": "PutObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(e["method"], e["method"])
        if "list-type=2" in e["url"]:
            op = "ListObjectsV2"
    else:
        path = e["url"].split("//", 1)[-1].split("/", 1)[-1].split("?")[0]
        op = f'{e["method"]} /{path}'
    calls[(service, op)] += 1
total = sum(calls.values())
for (s, op), n in sorted(calls.items()):
    print(f"{n:3}  {s:10} {op}")
print(f"{total:3}  total Rust SDK requests (test side included: 4 S3 puts of sha/package/spec/request, 1 S3 get of result.json)")
PY
