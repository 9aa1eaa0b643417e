"""Run state machines on moto's Step Functions interpreter (the differential test's reference).

Usage: python moto_sfn.py <moto url> < cases.json > results.json

cases.json: a list of {"name", "definition" (JSON text, already substituted), "input",
"table" (DynamoDB table name or null), "items" (DynamoDB JSON items to seed),
"bucket" (S3 bucket name or null), "objects" ({key: text})}.
Each result: {"name", "machine_name", "status", "output", "error", "cause"}.
Executions run concurrently (moto runs each in a thread); each is polled until it ends.
"""

import json
import sys
import time

import boto3

URL = sys.argv[1]
KW = dict(endpoint_url=URL, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
sfn = boto3.client("stepfunctions", **KW)
ddb = boto3.client("dynamodb", **KW)
s3 = boto3.client("s3", **KW)
ROLE = "arn:aws:iam::123456789012:role/ferry-corpus"


def parse(text):
    """The output as JSON; text that is not JSON (moto quirks) is kept as {"unparsed": text}."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return {"unparsed": text}


def main():
    cases = json.load(sys.stdin)
    running = []
    for case in cases:
        if case.get("table"):
            ddb.create_table(
                TableName=case["table"],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
            for item in case.get("items", []):
                ddb.put_item(TableName=case["table"], Item=item)
        if case.get("bucket"):
            s3.create_bucket(Bucket=case["bucket"])
            for key, body in case.get("objects", {}).items():
                s3.put_object(Bucket=case["bucket"], Key=key, Body=body.encode())
        arn = sfn.create_state_machine(name=case["machine_name"], definition=case["definition"], roleArn=ROLE)[
            "stateMachineArn"
        ]
        ex = sfn.start_execution(stateMachineArn=arn, name=case["execution_name"], input=json.dumps(case["input"]))
        running.append((case, ex["executionArn"]))
    results = []
    deadline = time.time() + 120
    for case, ex_arn in running:
        while True:
            d = sfn.describe_execution(executionArn=ex_arn)
            if d["status"] != "RUNNING" or time.time() > deadline:
                break
            time.sleep(0.1)
        results.append(
            {
                "name": case["name"],
                "status": d["status"],
                "output": parse(d.get("output")),
                "error": d.get("error"),
                "cause": d.get("cause"),
            }
        )
    json.dump(results, sys.stdout)


main()
