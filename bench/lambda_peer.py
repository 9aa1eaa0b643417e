"""The Python peer of the Ferry Lambdas, for bench/lambda.sh (start-up to first handled event).

What a Python (boto3) implementation of the same functions would pay on a cold start: the
interpreter, `import boto3`, the clients, and the same AWS calls as the Rust handler for the
same first event. It runs under the same Lambda Runtime API emulator as the Rust bootstraps,
through a minimal runtime loop (GET .../invocation/next, POST .../response) written here with
the standard library, like the loop of a Python Lambda's runtime interface client.

    python bench/lambda_peer.py metadata   # API Gateway v2 event -> GET /flows on DynamoDB
    python bench/lambda_peer.py deploy     # S3 ObjectCreated event of a deploy request
    python bench/lambda_peer.py events     # a @trigger rule's delivery of a Ferry event -> one run

Environment: AWS_LAMBDA_RUNTIME_API, AWS_ENDPOINT_URL and the function's variables as in
template.yaml (FERRY_METADATA_TABLE; FERRY_BUCKET, FERRY_BLOB_PREFIX, FERRY_DEPLOYMENTS_TABLE,
FERRY_SFN_ROLE_ARN, FERRY_SCHEDULE_GROUP, FERRY_JOB_QUEUE_ARN, FERRY_TASK_IMAGE, ...).

The deploy peer makes the Rust handler's 21 first-event calls (bench/aws.md: 2 wrapper-hash
reads at context start + 19 per deploy, per service the same counts, checked with moto's
recorder) around a minimal two-state definition; it does not reimplement the compiler, so it
is a lower bound of a Python deploy handler.

The events peer makes the Rust events handler's 5 calls for a first delivery of an event to a
deployment with a one-event @trigger (the record, the dedupe record, its conditional put, the
log entry, StartExecution; the same layout as shared/events/src/state.rs), with the same
clients created at start as the Rust context (DynamoDB, Step Functions, S3 for long parameters,
SSM and SNS for notifications); it maps fields by name and does not type-check values, so it
too is a lower bound.
"""

import hashlib
import http.client
import json
import os
import sys
import time

import boto3

# ---------------------------------------------------------------- runtime loop


def serve(handler):
    """Hand each event of the Runtime API to `handler(event)` and post its answer."""
    host = os.environ["AWS_LAMBDA_RUNTIME_API"]
    base = "/2018-06-01/runtime/invocation/"
    while True:
        conn = http.client.HTTPConnection(host, timeout=None)
        conn.request("GET", base + "next")
        resp = conn.getresponse()
        event = json.loads(resp.read())
        request_id = resp.getheader("Lambda-Runtime-Aws-Request-Id")
        try:
            path, body = base + request_id + "/response", json.dumps(handler(event))
        except Exception as e:  # noqa: BLE001 - reported to the Runtime API like a Lambda does
            path = base + request_id + "/error"
            body = json.dumps({"errorType": type(e).__name__, "errorMessage": str(e)})
        conn.request("POST", path, body=body.encode(), headers={"Content-Type": "application/json"})
        conn.getresponse().read()
        conn.close()


# ---------------------------------------------------------------- metadata API: GET /flows


def metadata_main():
    ddb = boto3.client("dynamodb")
    table = os.environ["FERRY_METADATA_TABLE"]

    def tags(item, k):
        v = item.get(k, {}).get("S")
        return json.loads(v) if v is not None else None

    def handler(event):
        path = event.get("rawPath") or event.get("path")
        if path != "/flows":
            return {"statusCode": 404, "headers": {"content-type": "application/json"}, "body": "{}"}
        flows, start = [], None
        while True:
            kw = {"ExclusiveStartKey": start} if start else {}
            out = ddb.query(TableName=table, ConsistentRead=True, KeyConditionExpression="pk = :pk",
                            ExpressionAttributeValues={":pk": {"S": "FLOWS"}}, **kw)
            for it in out.get("Items", []):
                flows.append({
                    "flow_id": it["flow_id"]["S"],
                    "user_name": it.get("user_name", {}).get("S"),
                    "ts_epoch": int(it.get("ts_epoch", {}).get("N", "0")),
                    "tags": tags(it, "tags"),
                    "system_tags": tags(it, "system_tags"),
                })
            start = out.get("LastEvaluatedKey")
            if not start:
                break
        return {"statusCode": 200, "headers": {"content-type": "application/json"},
                "body": json.dumps(flows), "isBase64Encoded": False}

    serve(handler)


# ---------------------------------------------------------------- deploy: one request


def deploy_main():
    env = os.environ
    bucket, prefix = env["FERRY_BUCKET"], env.get("FERRY_BLOB_PREFIX", "ferry/")
    table = env["FERRY_DEPLOYMENTS_TABLE"]
    s3 = boto3.client("s3")
    ddb = boto3.client("dynamodb")
    sfn = boto3.client("stepfunctions")
    batch = boto3.client("batch")
    scheduler = boto3.client("scheduler")
    region = s3.meta.region_name
    account = "123456789012"

    def get(key):
        try:
            return s3.get_object(Bucket=bucket, Key=prefix + key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None

    def exists(key):
        try:
            s3.head_object(Bucket=bucket, Key=prefix + key)
            return True
        except s3.exceptions.ClientError as e:
            if e.response["Error"]["Code"] in ("404", "NoSuchKey"):
                return False
            raise

    # Context start, as the Rust Lambda does it: the uploaded wrapper hashes, if any.
    hashes = {a: get(f"bin/task-wrapper-{a}.sha256") for a in ("x86_64", "arm64")}

    def handler(event):
        done = []
        for rec in event["Records"]:
            key = rec["s3"]["object"]["key"]
            if not (key.startswith(prefix + "deploy/") and key.endswith("/request.json")):
                continue
            req = json.loads(get(key[len(prefix):]))
            spec_bytes = get(req["spec"]["key"])
            if hashlib.sha256(spec_bytes).hexdigest() != req["spec"]["sha256"]:
                raise ValueError("spec sha256 mismatch")
            spec = json.loads(spec_bytes)
            if not exists(req["package"]["key"]):
                raise ValueError("code package missing")
            name, rid = req["deployment"], req["request_id"]
            record = ddb.get_item(TableName=table, Key={"pk": {"S": f"D#{name}"}, "sk": {"S": "D"}},
                                  ConsistentRead=True).get("Item")
            ddb.put_item(TableName=table, Item={"pk": {"S": f"D#{name}"}, "sk": {"S": f"C#{rid}"},
                                                "ts": {"N": str(int(time.time()))}},
                         ConditionExpression="attribute_not_exists(pk)")
            # The per-deployment lock, held from here to the result.
            lock = {"pk": {"S": f"D#{name}"}, "sk": {"S": "LOCK"}}
            ddb.put_item(TableName=table, Item=dict(lock, holder={"S": rid}),
                         ConditionExpression="attribute_not_exists(pk)")
            # A job definition and a task description per step, then the definition.
            command = ["task-wrapper"] if not any(hashes.values()) else ["python3", "-c", "..."]
            jd = {"type": "container", "platformCapabilities": ["FARGATE"],
                  "containerProperties": {
                      "image": env["FERRY_TASK_IMAGE"], "command": command,
                      "jobRoleArn": env.get("FERRY_JOB_ROLE_ARN"),
                      "executionRoleArn": env.get("FERRY_EXECUTION_ROLE_ARN"),
                      "resourceRequirements": [{"type": "VCPU", "value": "1"},
                                               {"type": "MEMORY", "value": "4096"}],
                      "logConfiguration": {"logDriver": "awslogs", "options": {
                          "awslogs-group": env.get("FERRY_BATCH_LOG_GROUP", "/ferry/batch")}}}}
            jd_name = "ferry-" + hashlib.sha256(json.dumps(jd, sort_keys=True).encode()).hexdigest()[:32]
            if not batch.describe_job_definitions(jobDefinitionName=jd_name, status="ACTIVE")["jobDefinitions"]:
                batch.register_job_definition(jobDefinitionName=jd_name, **jd)
            states = {}
            for step in spec["steps"]:
                desc = json.dumps({"flow": spec["flow"], "step": step["name"], "next": step["next"]}).encode()
                tkey = f"tasks/{hashlib.sha256(desc).hexdigest()}.json"
                if not exists(tkey):
                    s3.put_object(Bucket=bucket, Key=prefix + tkey, Body=desc)
                nxt = {"Next": step["next"][0]} if step["next"] else {"End": True}
                states[step["name"]] = {
                    "Type": "Task", "Resource": "arn:aws:states:::batch:submitJob.sync",
                    "Parameters": {"JobName": step["name"], "JobQueue": env["FERRY_JOB_QUEUE_ARN"],
                                   "JobDefinition": jd_name,
                                   "ContainerOverrides": {"Command": command + ["run", f"s3://{bucket}/{prefix}{tkey}"]}},
                    **nxt}
            definition = json.dumps({"StartAt": spec["steps"][0]["name"], "States": states})
            arn = f"arn:aws:states:{region}:{account}:stateMachine:{name}"
            try:
                sfn.describe_state_machine(stateMachineArn=arn)
                exists_sm = True
            except sfn.exceptions.StateMachineDoesNotExist:
                exists_sm = False
            if exists_sm:
                sfn.update_state_machine(stateMachineArn=arn, definition=definition)
            else:
                sfn.create_state_machine(name=name, definition=definition, roleArn=env["FERRY_SFN_ROLE_ARN"],
                                         tags=[{"key": "ferry:owner", "value": req["user"]}])
            sfn.describe_state_machine(stateMachineArn=arn)
            try:
                scheduler.delete_schedule(Name=name, GroupName=env["FERRY_SCHEDULE_GROUP"])
            except scheduler.exceptions.ResourceNotFoundException:
                pass
            version = int(record["version"]["N"]) + 1 if record else 1
            ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": {"S": f"D#{name}"}, "sk": {"S": "D"},
                                                      "owner": {"S": req["user"]}, "version": {"N": str(version)},
                                                      "state_machine": {"S": arn}}}},
                {"Update": {"TableName": table, "Key": {"pk": {"S": f"D#{name}"}, "sk": {"S": f"C#{rid}"}},
                            "UpdateExpression": "SET done_ts = :t",
                            "ExpressionAttributeValues": {":t": {"N": str(int(time.time()))}}}}])
            result = {"version": 1, "request_id": rid, "action": "deploy", "deployment": name,
                      "flow": req["flow"], "status": "ok", "messages": [],
                      "state_machine": {"id": arn}, "first_deploy": record is None}
            s3.put_object(Bucket=bucket, Key=key[: -len("request.json")] + "result.json",
                          Body=json.dumps(result).encode())
            ddb.delete_item(TableName=table, Key=lock, ConditionExpression="holder = :r",
                            ExpressionAttributeValues={":r": {"S": rid}})
            done.append({"key": key[len(prefix):], "status": "ok"})
        return {"handled": done, "busy": [], "skipped": len(event["Records"]) - len(done)}

    serve(handler)


# ---------------------------------------------------------------- events: one addressed delivery


def events_main():
    env = os.environ
    records, state = env["FERRY_DEPLOYMENTS_TABLE"], env["FERRY_STATE_TABLE"]
    ddb = boto3.client("dynamodb")
    sfn = boto3.client("stepfunctions")
    # The Rust context's other clients: S3 (long parameters), SSM and SNS (notifications).
    for service in ("s3", "ssm", "sns"):
        boto3.client(service)

    def sha(text):
        return hashlib.sha256(text.encode()).hexdigest()

    def handler(event):
        deployment, envelope = event["deployment"], event["event"]
        detail = envelope["detail"]
        payload = detail["payload"]
        name = payload.get("name") or detail["name"]
        eid, ts = str(payload["id"]), int(payload["timestamp"])
        item = ddb.get_item(TableName=records, ConsistentRead=True,
                            Key={"pk": {"S": "deploy#deployments"}, "sk": {"S": deployment}}).get("Item")
        if item is None:
            return {"kind": "delivery", "delivery": {"deployments": [
                {"deployment": deployment, "outcome": "no_deployment", "started": False}]}}
        record = json.loads(item["record"]["S"])
        dependency = next(d for d in record["triggers"]["events"] if d["name"] == name)
        pk, sk = f"events#deployment#{deployment}", "delivery#" + sha(eid)
        if ddb.get_item(TableName=state, ConsistentRead=True,
                        Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item"):
            return {"kind": "delivery", "delivery": {"deployments": [
                {"deployment": deployment, "outcome": "duplicate", "started": False}]}}
        params = {m["parameter"]: payload[m["field"]] for m in dependency.get("parameters", [])
                  if payload.get(m["field"]) is not None}
        triggers = [{"timestamp": ts, "id": eid, "name": name, "type": "event"}]
        execution = "ev-" + hashlib.sha256(deployment.encode() + b"\0" + eid.encode()).hexdigest()[:32]
        run_id = "sfn-" + execution
        start = {"deployment": deployment, "execution_name": execution, "run_id": run_id,
                 "input": json.dumps({"Parameters": json.dumps(dict(params, **{"ferry.triggers": triggers}))})}
        now = time.time()
        ddb.put_item(TableName=state, ConditionExpression="attribute_not_exists(pk)", Item={
            "pk": {"S": pk}, "sk": {"S": sk}, "event": {"S": name}, "at": {"N": str(int(now))},
            "outcome": {"S": json.dumps({"kind": "start", "start": start})},
            "ttl": {"N": str(int(now) + 7 * 86400)}})
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03}Z"
        entry = {"received_at": stamp, "event": {"name": name, "id": eid, "timestamp": ts, "origin": "published"},
                 "deployments": [{"deployment": deployment, "outcome": "started", "run_id": run_id}]}
        ddb.put_item(TableName=state, Item={
            "pk": {"S": "events#log#" + stamp[:10]}, "sk": {"S": f"{stamp}#{sha(eid)[:8]}"},
            "entry": {"S": json.dumps(entry)}, "ttl": {"N": str(int(now) + 14 * 86400)}})
        sfn.start_execution(stateMachineArn=record["state_machine"]["id"], name=execution, input=start["input"])
        delivery = dict(entry, deployments=[dict(entry["deployments"][0], flow=record["flow"],
                                                 execution_name=execution, started=True)])
        return {"kind": "delivery", "delivery": delivery}

    serve(handler)


if __name__ == "__main__":
    {"metadata": metadata_main, "deploy": deploy_main, "events": events_main}[sys.argv[1]]()
