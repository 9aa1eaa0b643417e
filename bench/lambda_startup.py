"""Time from process start to first handled event of each Lambda, under a local Runtime API.

Used by bench/lambda.sh. A minimal emulator of the Lambda Runtime API (the public contract:
`GET /2018-06-01/runtime/invocation/next`, `POST /2018-06-01/runtime/invocation/<id>/response`
or `/error`, `POST /2018-06-01/runtime/init/error`) listens on 127.0.0.1, spawns the function
with `AWS_LAMBDA_RUNTIME_API` pointing at it, hands it one event and records:

- init: spawn -> first `GET .../next` (process start, runtime and client set-up),
- handle: that GET -> the response POST (the first event, AWS calls to moto included),
- total: spawn -> response POST, and the process's peak RSS then (`VmHWM`).

Variants, run round-robin `--runs` times each on fresh resources (every deploy is a first
deploy of a new flow):

- rust metadata-api: API Gateway v2 `GET /flows` over a DynamoDB table holding 20 flows,
- python metadata-api peer (bench/lambda_peer.py metadata): the same query with boto3,
- rust deploy: S3 `ObjectCreated:Put` of a real deploy request (2-step flow, new flow, new task
  image: state machine and job definition are created), checked through the `result.json` it
  writes,
- python deploy peer (bench/lambda_peer.py deploy): the same event, the same AWS calls,
- rust events (with --events): a deployment's @trigger rule delivery (`{"deployment", "event"}`,
  the EventBridge event of a Ferry event on the bus) to a flow deployed once, at set-up, through
  the deploy bootstrap (a one-event `@trigger` mapping `day` from `date`); each run a new event
  id, so each starts one run, checked through moto's Step Functions (the execution exists under
  the name the answer gives),
- python events peer (bench/lambda_peer.py events): the same delivery, the same AWS calls.

    python bench/lambda_startup.py --moto URL --metadata BOOTSTRAP --deploy BOOTSTRAP \
        [--events BOOTSTRAP] [--runs 10]
"""

import argparse
import base64
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3

HERE = os.path.dirname(os.path.abspath(__file__))
ACCOUNT = "123456789012"
REGION = "us-east-1"
FLOWS = 20


# ---------------------------------------------------------------- Runtime API emulator


class Invocation:
    """One process, one event: what the emulator saw and when (time.perf_counter seconds)."""

    def __init__(self, event: bytes):
        self.event = event
        self.request_id = str(uuid.uuid4())
        self.pid = None
        self.handed = False
        self.t_next = None
        self.t_done = None
        self.hwm_kb = None
        self.outcome = None  # ("response" | "error" | "init-error", body bytes)
        self.done = threading.Event()
        self.stop = threading.Event()


def peak_rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            m = re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.M)
            return int(m.group(1)) if m else None
    except OSError:
        return None


def emulator(inv: Invocation) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def _reply(self, code, body=b"", headers=()):
            self.send_response(code)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path != "/2018-06-01/runtime/invocation/next":
                return self._reply(404)
            if inv.handed:
                # The process is done with its one event: hold the poll until it is stopped.
                inv.stop.wait(60)
                return
            inv.t_next = time.perf_counter()
            inv.handed = True
            deadline = int(time.time() * 1000) + 29_000
            self._reply(200, inv.event, [
                ("Content-Type", "application/json"),
                ("Lambda-Runtime-Aws-Request-Id", inv.request_id),
                ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                ("Lambda-Runtime-Invoked-Function-Arn",
                 f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:ferry-bench"),
                ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0"),
            ])

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) \
                if "chunked" not in (self.headers.get("Transfer-Encoding") or "") else self._chunked()
            now = time.perf_counter()
            base = f"/2018-06-01/runtime/invocation/{inv.request_id}/"
            kind = {base + "response": "response", base + "error": "error",
                    "/2018-06-01/runtime/init/error": "init-error"}.get(self.path)
            if kind is None:
                return self._reply(404)
            first = not inv.done.is_set() and inv.outcome is None
            if first:
                inv.t_done = now
                inv.hwm_kb = peak_rss_kb(inv.pid)
                inv.outcome = (kind, body)
            try:
                self._reply(202, b'{"status":"OK"}', [("Content-Type", "application/json")])
            except OSError:
                pass
            if first:
                inv.done.set()

        def _chunked(self):
            out = b""
            while True:
                n = int(self.rfile.readline().strip().split(b";")[0], 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(n)
                self.rfile.readline()

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address):
            # The held poll of a killed process ends with a reset connection: expected.
            if not isinstance(sys.exc_info()[1], OSError):
                super().handle_error(request, client_address)

    srv = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def invoke(argv, env, event: bytes, log_path):
    """Spawn `argv` under a fresh emulator, hand it `event`; timings (ms), peak RSS, outcome."""
    inv = Invocation(event)
    srv = emulator(inv)
    env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{srv.server_address[1]}")
    with open(log_path, "ab") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        inv.pid = proc.pid
        finished = inv.done.wait(120)
        proc.kill()
        proc.wait()
    inv.stop.set()
    srv.shutdown()
    srv.server_close()
    if not finished:
        raise RuntimeError(f"{argv[0]}: no answer in 120 s (log: {log_path})")
    kind, body = inv.outcome
    if kind != "response":
        raise RuntimeError(f"{argv}: {kind}: {body[:500]!r} (log: {log_path})")
    return {
        "init_ms": (inv.t_next - t0) * 1000,
        "handle_ms": (inv.t_done - inv.t_next) * 1000,
        "total_ms": (inv.t_done - t0) * 1000,
        "hwm_kb": inv.hwm_kb,
        "body": json.loads(body),
    }


# ---------------------------------------------------------------- the two functions' stacks


def lambda_env(base, name):
    return dict(base, AWS_LAMBDA_FUNCTION_NAME=name, AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256",
                AWS_LAMBDA_FUNCTION_VERSION="$LATEST", AWS_LAMBDA_LOG_GROUP_NAME=f"/aws/lambda/{name}",
                AWS_LAMBDA_LOG_STREAM_NAME="bench", RUST_LOG="info")


def seed_metadata(bootstrap, env, table, work):
    """Create the table and 20 flows through the metadata-api binary itself (plain-server mode)."""
    boto3.client("dynamodb").create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}])
    server = subprocess.Popen([bootstrap, "--listen", "127.0.0.1:0", "--dynamodb", table], env=env,
                              stdout=subprocess.PIPE, stderr=open(os.path.join(work, "seed.log"), "wb"))
    try:
        line = server.stdout.readline().decode()
        url = re.search(r"http://\S+", line).group(0)
        names = [f"BenchFlow{i:02}" for i in range(FLOWS)]
        for n in names:
            body = json.dumps({"user_name": "bench", "tags": ["team:bench"], "system_tags": ["user:bench"]})
            req = urllib.request.Request(f"{url}/flows/{n}", data=body.encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
            urllib.request.urlopen(req).read()
    finally:
        server.kill()
        server.wait()
    return names


def get_flows_event():
    return json.dumps({
        "version": "2.0", "routeKey": "ANY /{proxy+}", "rawPath": "/flows", "rawQueryString": "",
        "headers": {"host": "abc123.execute-api.us-east-1.amazonaws.com", "user-agent": "bench",
                    "x-forwarded-proto": "https", "x-forwarded-port": "443"},
        "requestContext": {
            "accountId": ACCOUNT, "apiId": "abc123", "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {"method": "GET", "path": "/flows", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7",
                     "userAgent": "bench"},
            "requestId": "bench=", "routeKey": "ANY /{proxy+}", "stage": "$default",
            "time": "30/Nov/2026:08:00:00 +0000", "timeEpoch": 1796025600000},
        "pathParameters": {"proxy": "flows"}, "body": None, "isBase64Encoded": False,
    }).encode()


def check_flows(body, names):
    assert body.get("statusCode") == 200, body
    text = body["body"]
    if body.get("isBase64Encoded"):
        text = base64.b64decode(text).decode()
    got = sorted(f["flow_id"] for f in json.loads(text))
    assert got == names, got


class DeployStack:
    """The deploy function's bucket, table and schedule group, and its template.yaml environment."""

    def __init__(self):
        self.bucket = f"ferry-bench-{uuid.uuid4().hex[:12]}"
        self.table = f"ferry-bench-deployments-{uuid.uuid4().hex[:8]}"
        self.group = f"ferry-bench-{uuid.uuid4().hex[:8]}"
        self.s3 = boto3.client("s3")
        self.s3.create_bucket(Bucket=self.bucket)
        boto3.client("dynamodb").create_table(
            TableName=self.table, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}])
        boto3.client("scheduler").create_schedule_group(Name=self.group)
        self.env = {
            "FERRY_BUCKET": self.bucket, "FERRY_BLOB_PREFIX": "ferry/",
            "FERRY_DATASTORE_ROOT": f"s3://{self.bucket}/metaflow",
            "FERRY_DEPLOYMENTS_TABLE": self.table, "FERRY_STATE_TABLE": "ferry-bench-state",
            "FERRY_METADATA_URL": "https://abc123.execute-api.us-east-1.amazonaws.com/api",
            "FERRY_SFN_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/ferry-sfn",
            "FERRY_SCHEDULER_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/ferry-scheduler",
            "FERRY_SCHEDULE_GROUP": self.group,
            "FERRY_JOB_QUEUE_ARN": f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/ferry",
            "FERRY_JOB_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/ferry-job",
            "FERRY_EXECUTION_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/ferry-exec",
            "FERRY_TASK_IMAGE": "registry.example.com/ferry-task:bench",
            "FERRY_API_KEY_SECRET_ARN": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ferry-apikey-AbCdEf",
            "FERRY_BATCH_LOG_GROUP": "/ferry/batch",
        }

    def put(self, key, body: bytes):
        self.s3.put_object(Bucket=self.bucket, Key="ferry/" + key, Body=body)

    def request(self, extra=None):
        """Upload package, spec and request of a first deploy of a new flow, as the CLI does;
        the S3 event of the request and the key of its result. `extra`: spec fields to add
        (a version 2 spec's parameters and trigger)."""
        flow = f"Bench{uuid.uuid4().hex[:12]}Flow"
        rid = str(uuid.uuid4())
        spec = json.dumps(dict({"spec_version": 1, "flow": flow, "file": "bench.py", "steps": [
            {"name": "start", "type": "start", "next": ["end"]},
            {"name": "end", "type": "end", "next": []}]}, **(extra or {}))).encode()
        pkg = b"code package bytes " + flow.encode()
        pkg_key = f"code/{hashlib.sha256(pkg).hexdigest()}.tgz"
        folder = f"deploy/{flow}/{rid}/"
        self.put(pkg_key, pkg)
        self.put(folder + "spec.json", spec)
        request = json.dumps({
            "version": 1, "request_id": rid, "action": "deploy", "deployment": flow, "flow": flow,
            "spec": {"key": folder + "spec.json", "sha256": hashlib.sha256(spec).hexdigest()},
            "package": {"key": pkg_key, "sha256": hashlib.sha256(pkg).hexdigest()},
            "user": "bench", "requested_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "options": {}}).encode()
        self.put(folder + "request.json", request)
        self.flow = flow
        key = "ferry/" + folder + "request.json"
        event = json.dumps({"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION,
            "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()), "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8"},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "ferry-deploy-requests",
                   "bucket": {"name": self.bucket, "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                              "arn": f"arn:aws:s3:::{self.bucket}"},
                   "object": {"key": key, "size": len(request), "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                              "sequencer": "0055AED6DCD90281E5"}}}]}).encode()
        return event, "ferry/" + folder + "result.json"

    def check(self, body, result_key):
        handled = body.get("handled")
        assert isinstance(handled, list) and len(handled) == 1 and handled[0]["status"] == "ok", body
        result = json.loads(self.s3.get_object(Bucket=self.bucket, Key=result_key)["Body"].read())
        assert result["status"] == "ok", result


class EventsStack:
    """The events function's tables (template.yaml's environment) beside a DeployStack's bucket
    and deployments table, and one deployment with a one-event @trigger, deployed through the
    deploy bootstrap (untimed)."""

    TRIGGERED = {
        "spec_version": 2,
        "parameters": [{"name": "day", "type": "str", "required": True}],
        "decorators": {"trigger": {"events": [{"name": "data_ready", "parameters": {"day": "date"}}]}},
    }

    def __init__(self, deploy: DeployStack, deploy_argv, deploy_env):
        ddb = boto3.client("dynamodb")
        self.state = f"ferry-bench-state-{uuid.uuid4().hex[:8]}"
        self.metadata = f"ferry-bench-metadata-{uuid.uuid4().hex[:8]}"
        for t in (self.state, self.metadata):
            ddb.create_table(
                TableName=t, BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                      {"AttributeName": "sk", "AttributeType": "S"}])
        event, result_key = deploy.request(self.TRIGGERED)
        r = invoke(deploy_argv, deploy_env, event, os.path.join(tempfile.gettempdir(), "ferry-bench-events-deploy.log"))
        deploy.check(r["body"], result_key)
        self.deployment = deploy.flow
        self.state_machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{self.deployment}"
        self.sfn = boto3.client("stepfunctions")
        self.env = {
            "FERRY_BUCKET": deploy.bucket, "FERRY_BLOB_PREFIX": "ferry/",
            "FERRY_DEPLOYMENTS_TABLE": deploy.table, "FERRY_METADATA_TABLE": self.metadata,
            "FERRY_STATE_TABLE": self.state,
            "FERRY_SFN_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/ferry-sfn",
            "FERRY_SCHEDULER_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/ferry-scheduler",
            "FERRY_SECRETS_PREFIX": "/ferry/bench/",
        }

    def delivery(self):
        """The trigger rule's delivery of a new `data_ready` event (its input transformer's
        `{"deployment", "event"}`), and the event id."""
        eid = str(uuid.uuid4())
        now = int(time.time())
        payload = {"name": "data_ready", "id": eid, "timestamp": now,
                   "utc_date": time.strftime("%Y%m%d", time.gmtime(now)), "generated-by-metaflow": True,
                   "date": "2026-12-06"}
        event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "data_ready", "source": "ferry.events",
                 "account": ACCOUNT, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                 "region": REGION, "resources": [],
                 "detail": {"name": "data_ready", "id": eid, "timestamp": now, "payload": payload,
                            "origin": "published"}}
        return json.dumps({"deployment": self.deployment, "event": event}).encode(), eid

    def check(self, body):
        assert body.get("kind") == "delivery", body
        d = body["delivery"]["deployments"]
        assert len(d) == 1 and d[0]["started"] is True, body
        arn = self.state_machine.replace(":stateMachine:", ":execution:") + ":" + d[0]["execution_name"]
        params = json.loads(json.loads(self.sfn.describe_execution(executionArn=arn)["input"])["Parameters"])
        assert params["day"] == "2026-12-06", params


# ---------------------------------------------------------------- AWS calls (moto's recorder)


def moto_api(url, action):
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/recorder/{action}", data=b"",
                                                  method="POST")).read()


def count_calls(path):
    """Requests of the functions in moto's recorder file, by runtime (from the SDK User-Agent's
    exec-env, set by AWS_EXECUTION_ENV), service and operation."""
    calls = {}
    with open(path) as f:
        for line in f:
            e = json.loads(line)
            h = {k.lower(): v for k, v in e["headers"].items()}
            ua = h.get("user-agent", "") + " " + h.get("x-amz-user-agent", "")
            who = "rust" if "provided.al2023" in ua else "python" if "python3.11" in ua else None
            if who is None:
                continue  # this harness's own set-up and checks
            auth = h.get("authorization", "")
            service = auth.split("Credential=")[1].split("/")[3] if "Credential=" in auth else "?"
            if h.get("x-amz-target"):
                op = h["x-amz-target"].split(".")[-1]
            elif service == "s3":
                op = {"GET": "GetObject", "PUT": "PutObject", "HEAD": "HeadObject"}.get(e["method"], e["method"])
            else:
                # REST services (Batch, Scheduler): the resource, without the names in the path.
                parts = e["url"].split("//", 1)[-1].split("?")[0].split("/")[1:]
                parts = parts[1:] if parts and parts[0] == "v1" else parts
                op = e["method"] + " /" + (parts[0] if parts else "")
            key = (who, service, op)
            calls[key] = calls.get(key, 0) + 1
    return calls


# ---------------------------------------------------------------- main


def summary(rows):
    def med(k):
        return statistics.median(r[k] for r in rows)
    return {"runs": len(rows), "init_ms": med("init_ms"), "handle_ms": med("handle_ms"),
            "total_ms": med("total_ms"), "hwm_mb": med("hwm_kb") / 1024,
            "total_min_ms": min(r["total_ms"] for r in rows), "total_max_ms": max(r["total_ms"] for r in rows)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--moto", required=True, help="moto server URL")
    ap.add_argument("--metadata", required=True, help="metadata-api bootstrap (release build)")
    ap.add_argument("--deploy", required=True, help="deploy bootstrap (release build)")
    ap.add_argument("--events", help="events bootstrap (release build): adds the events variants")
    ap.add_argument("--python", default=sys.executable, help="python with boto3 for the peers")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--json", help="write the raw rows and the summary here")
    ap.add_argument("--recorder", help="the MOTO_RECORDER_FILEPATH of the moto server: count the "
                    "AWS calls of one more round (not timed)")
    ap.add_argument("--only", default="", help="run only the variants whose name contains this")
    a = ap.parse_args()

    work = tempfile.mkdtemp(prefix="ferry-lambda-bench-")
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": work, "LANG": "C.UTF-8",
            "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": a.moto, "AWS_EC2_METADATA_DISABLED": "true"}
    os.environ.update({k: v for k, v in base.items() if k.startswith("AWS_")})

    table = f"ferry-bench-metadata-{uuid.uuid4().hex[:8]}"
    meta_env = lambda_env(dict(base, FERRY_METADATA_TABLE=table), "ferry-metadata")
    names = seed_metadata(a.metadata, dict(base, FERRY_METADATA_TABLE=table), table, work)
    stack = DeployStack()
    deploy_env = lambda_env(dict(base, **stack.env), "ferry-deploy")
    peer = os.path.join(HERE, "lambda_peer.py")

    def exec_env(env, argv):
        # What Lambda sets (the SDKs put it in their User-Agent: calls can be told apart).
        kind = "python3.11" if argv[0] == a.python else "provided.al2023"
        return dict(env, AWS_EXECUTION_ENV=f"AWS_Lambda_{kind}")

    def metadata_case(argv):
        def run(log):
            r = invoke(argv, exec_env(meta_env, argv), get_flows_event(), log)
            check_flows(r["body"], names)
            return r
        return run

    def deploy_case(argv):
        def run(log):
            event, result_key = stack.request()
            # A new image per run: its job definition is new too (Describe + Register).
            env = dict(deploy_env, FERRY_TASK_IMAGE=f"registry.example.com/ferry-task:{uuid.uuid4().hex[:12]}")
            r = invoke(argv, exec_env(env, argv), event, log)
            stack.check(r["body"], result_key)
            return r
        return run

    cases = {
        "metadata-api rust": metadata_case([a.metadata]),
        "metadata-api python": metadata_case([a.python, peer, "metadata"]),
        "deploy rust": deploy_case([a.deploy]),
        "deploy python": deploy_case([a.python, peer, "deploy"]),
    }
    if a.events:
        events = EventsStack(stack, [a.deploy], exec_env(deploy_env, [a.deploy]))
        events_env = lambda_env(dict(base, **events.env), "ferry-events")

        def events_case(argv):
            def run(log):
                event, _ = events.delivery()
                r = invoke(argv, exec_env(events_env, argv), event, log)
                events.check(r["body"])
                return r
            return run

        cases["events rust"] = events_case([a.events])
        cases["events python"] = events_case([a.python, peer, "events"])
    cases = {k: v for k, v in cases.items() if a.only in k}
    rows = {k: [] for k in cases}
    # One untimed round first (page cache, moto's lazily built backends), then round-robin.
    for i in range(a.runs + 1):
        for name, run in cases.items():
            r = run(os.path.join(work, name.replace(" ", "-") + ".log"))
            r.pop("body")
            if i > 0:
                rows[name].append(r)
    out = {k: summary(v) for k, v in rows.items()}
    calls = None
    if a.recorder:
        # One function at a time, so each one's calls are counted apart.
        calls = {}
        for fn in dict.fromkeys(name.split(" ")[0] for name in cases):
            moto_api(a.moto, "reset-recording")
            moto_api(a.moto, "start-recording")
            for name, run in cases.items():
                if name.split(" ")[0] == fn:
                    run(os.path.join(work, name.replace(" ", "-") + ".log"))
            moto_api(a.moto, "stop-recording")
            for (who, svc, op), n in count_calls(a.recorder).items():
                calls[(fn, who, svc, op)] = n
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"summary": out, "rows": rows,
                       "calls": calls and [[*k, n] for k, n in sorted(calls.items())]}, f, indent=1)

    print(f"median of {a.runs} runs each (ms; peak RSS at the response in MB)")
    print(f"{'variant':22} {'init':>8} {'handle':>8} {'total':>8} {'min':>8} {'max':>8} {'RSS':>6}")
    for k, s in out.items():
        print(f"{k:22} {s['init_ms']:8.1f} {s['handle_ms']:8.1f} {s['total_ms']:8.1f} "
              f"{s['total_min_ms']:8.1f} {s['total_max_ms']:8.1f} {s['hwm_mb']:6.1f}")
    for fn in ("metadata-api", "deploy", "events"):
        if f"{fn} rust" not in out or f"{fn} python" not in out:
            continue
        r, p = out[f"{fn} rust"], out[f"{fn} python"]
        print(f"{fn}: rust/python total {r['total_ms'] / p['total_ms']:.2f}, init "
              f"{r['init_ms'] / p['init_ms']:.2f}, handle {r['handle_ms'] / p['handle_ms']:.2f}, "
              f"RSS {r['hwm_mb'] / p['hwm_mb']:.2f}")

    if calls:
        print("\nAWS calls of one first event per variant (moto recorder, by service/operation):")
        for fn in dict.fromkeys(k[0] for k in calls):
            for who in ("rust", "python"):
                mine = {k[2:]: n for k, n in calls.items() if k[:2] == (fn, who)}
                print(f"  {fn:12} {who:6} total {sum(mine.values()):3}: " +
                      ", ".join(f"{svc} {op} {n}" for (svc, op), n in sorted(mine.items())))


if __name__ == "__main__":
    main()
