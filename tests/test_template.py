"""template.yaml: lint, SAM translation, the zero-idle-cost rules, and a stack in moto."""

import copy
import io
import json
import subprocess
import zipfile

import boto3
import pytest

from cfn_moto import MOTO_UNSUPPORTED, SHIM_DROPPED, shim_for_moto
from conftest import ROOT, tools_dir, unique
from sam_translate import load_template, translate

TEMPLATE = ROOT / "template.yaml"

# Resource types billed by the hour (or per instance-hour) whether used or not.
HOURLY_BILLED_PREFIXES = (
    "AWS::RDS::",
    "AWS::ElastiCache::",
    "AWS::Redshift::",
    "AWS::OpenSearchService::",
    "AWS::Elasticsearch::",
    "AWS::ElasticLoadBalancing::",
    "AWS::ElasticLoadBalancingV2::",
    "AWS::SageMaker::NotebookInstance",
    "AWS::EC2::NatGateway",
    "AWS::EC2::Instance",
    "AWS::EC2::VPCEndpoint",
    "AWS::ECS::Service",
    "AWS::MSK::",
    "AWS::DocDB::",
    "AWS::Neptune::",
)


@pytest.fixture(scope="module")
def translated():
    return translate(load_template(TEMPLATE))


def cfn_lint(path):
    return subprocess.run(
        [str(tools_dir() / "venv" / "bin" / "cfn-lint"), str(path)], capture_output=True, text=True
    )


def test_cfn_lint_passes_on_the_sam_template():
    out = cfn_lint(TEMPLATE)
    assert out.returncode == 0, out.stdout + out.stderr


def test_cfn_lint_passes_on_the_translated_template(translated, tmp_path):
    path = tmp_path / "translated.json"
    path.write_text(json.dumps(translated))
    out = cfn_lint(path)
    assert out.returncode == 0, out.stdout + out.stderr


def test_cfn_lint_catches_a_broken_copy(tmp_path):
    """Guards the two tests above: the linter does run and does fail."""
    broken = tmp_path / "broken.yaml"
    broken.write_text(TEMPLATE.read_text().replace("Type: AWS::DynamoDB::Table", "Type: AWS::DynamoDB::Tabel", 1))
    assert cfn_lint(broken).returncode != 0


def test_no_hourly_billed_resource(translated):
    types = {n: r["Type"] for n, r in translated["Resources"].items()}
    hourly = {n: t for n, t in types.items() if t.startswith(HOURLY_BILLED_PREFIXES)}
    assert hourly == {}


def test_batch_scales_to_zero_and_dynamodb_is_on_demand(translated):
    res = translated["Resources"].values()
    envs = [r for r in res if r["Type"] == "AWS::Batch::ComputeEnvironment"]
    assert envs, "a Batch compute environment"
    for env in envs:
        cr = env["Properties"]["ComputeResources"]
        assert cr["Type"] in ("FARGATE", "FARGATE_SPOT") or cr.get("MinvCpus", 0) == 0
        assert cr.get("MinvCpus", 0) == 0
    tables = [r for r in res if r["Type"] == "AWS::DynamoDB::Table"]
    assert len(tables) == 3
    for t in tables:
        assert t["Properties"]["BillingMode"] == "PAY_PER_REQUEST"
        assert t["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert any(t["Properties"].get("TimeToLiveSpecification", {}).get("Enabled") for t in tables)


def _statements(translated):
    for name, r in translated["Resources"].items():
        if r["Type"] != "AWS::IAM::Role":
            continue
        for pol in r["Properties"].get("Policies", []):
            for st in pol["PolicyDocument"]["Statement"]:
                yield name, st


def test_no_policy_allows_every_action_on_every_resource(translated):
    for role, st in _statements(translated):
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        wildcard_action = any(a == "*" or a.endswith(":*") for a in actions)
        assert not (wildcard_action and "*" in resources), (role, st)
        if st["Effect"] == "Allow":
            assert not any(a == "*" or a.endswith(":*") for a in actions), (role, st)


def test_bucket_is_private_encrypted_and_tls_only(translated):
    res = translated["Resources"]
    bucket = res["Bucket"]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert any("deploy" in r["Prefix"] for r in bucket["LifecycleConfiguration"]["Rules"])
    policy = res["BucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert any(s["Effect"] == "Deny" and s["Condition"]["Bool"]["aws:SecureTransport"] == "false" for s in policy)


def test_lambdas_are_rust_on_al2023_with_the_architecture_parameter():
    tpl = load_template(TEMPLATE)
    assert tpl["Globals"]["Function"]["Runtime"] == "provided.al2023"
    assert tpl["Globals"]["Function"]["Architectures"] == [{"Ref": "Architecture"}]
    assert set(tpl["Parameters"]["Architecture"]["AllowedValues"]) == {"x86_64", "arm64"}
    fns = {n: r for n, r in tpl["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    assert {r["Metadata"]["BuildProperties"]["Binary"] for r in fns.values()} == {"metadata-api", "deploy", "events"}
    assert all(r["Metadata"]["BuildMethod"] == "rust-cargolambda" for r in fns.values())


def test_outputs_feed_metaflow_settings_and_ferry_configure():
    outputs = load_template(TEMPLATE)["Outputs"]
    for key in [
        "METAFLOWSERVICEURL",
        "METAFLOWDATASTORESYSROOTS3",
        "METAFLOWBATCHJOBQUEUE",
        "METAFLOWSFNIAMROLE",
        "METAFLOWEVENTSSFNACCESSIAMROLE",
        "METAFLOWSFNDYNAMODBTABLE",
        "METAFLOWECSS3ACCESSIAMROLE",
        "METAFLOWARGOEVENTSWEBHOOKURL",
    ]:
        assert key in outputs, key
    assert "ferry configure" in json.dumps(outputs["FerryConfigureCommand"])


def test_stack_comes_up_in_moto(translated, aws_env):
    template = copy.deepcopy(translated)
    dropped = shim_for_moto(template)
    assert set(dropped.values()) == SHIM_DROPPED

    s3 = boto3.client("s3")
    code_bucket = "local-artifacts"
    try:
        s3.create_bucket(Bucket=code_bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\n")
    for name, r in template["Resources"].items():
        if r["Type"] == "AWS::Lambda::Function":
            s3.put_object(Bucket=code_bucket, Key=f"{name}.zip", Body=zipped.getvalue())

    cfn = boto3.client("cloudformation")
    stack = unique("ferry")
    cfn.create_stack(
        StackName=stack,
        TemplateBody=json.dumps(template),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    desc = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    assert desc["StackStatus"] == "CREATE_COMPLETE", desc.get("StackStatusReason")
    summaries = cfn.list_stack_resources(StackName=stack)["StackResourceSummaries"]
    created = {r["LogicalResourceId"]: r for r in summaries if r["LogicalResourceId"]}
    expected = {
        n
        for n, r in template["Resources"].items()
        if r["Type"] not in MOTO_UNSUPPORTED
    }
    assert expected <= set(created), expected - set(created)
    assert all(created[n]["ResourceStatus"] == "CREATE_COMPLETE" for n in expected)

    outputs = {o["OutputKey"]: o["OutputValue"] for o in desc["Outputs"]}
    # The resources behind the outputs exist.
    bucket = outputs["FerryBucket"]
    s3.head_bucket(Bucket=bucket)
    ddb = boto3.client("dynamodb")
    for key in ["METAFLOWSFNDYNAMODBTABLE", "FerryDeploymentsTable", "FerryMetadataTable"]:
        table = ddb.describe_table(TableName=outputs[key])["Table"]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    queues = boto3.client("batch").describe_job_queues(jobQueues=[outputs["METAFLOWBATCHJOBQUEUE"]])["jobQueues"]
    assert [q["state"] for q in queues] == ["ENABLED"]
    assert outputs["METAFLOWDATASTORESYSROOTS3"] == f"s3://{bucket}/metaflow"
    assert outputs["METAFLOWARGOEVENTSWEBHOOKURL"] == outputs["METAFLOWSERVICEURL"] + "/ferry/v1/events"


def test_deploy_function_is_subscribed_to_deploy_requests_only(translated):
    """moto ignores a bucket's NotificationConfiguration from CloudFormation: checked statically."""
    conf = translated["Resources"]["Bucket"]["Properties"]["NotificationConfiguration"]
    lambdas = conf["LambdaConfigurations"]
    assert len(lambdas) == 1
    assert lambdas[0]["Event"] == "s3:ObjectCreated:*"
    assert lambdas[0]["Function"] == {"Fn::GetAtt": ["DeployFunction", "Arn"]}
    rules = {r["Name"]: r["Value"] for r in lambdas[0]["Filter"]["S3Key"]["Rules"]}
    assert rules == {"prefix": "ferry/deploy/", "suffix": "request.json"}


def test_the_ui_page_is_public_and_its_data_needs_the_api_key(translated):
    apis = [r for r in translated["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    assert len(apis) == 1
    paths = apis[0]["Properties"]["Body"]["paths"]

    def keyed(path, method):
        op = paths[path][method]
        return any("api_key" in s for s in op.get("security", []))

    assert not keyed("/ui", "get"), "the HTML shell is public"
    assert not keyed("/ui/{proxy+}", "get"), "the page's assets are public"
    assert keyed("/ui/api/{proxy+}", "get"), "the UI's data needs the key"
    assert keyed("/{proxy+}", "x-amazon-apigateway-any-method"), "the metadata API keeps it"
    env = translated["Resources"]["MetadataFunction"]["Properties"]["Environment"]["Variables"]
    for var in ["FERRY_DEPLOYMENTS_TABLE", "FERRY_BUCKET", "FERRY_DATASTORE_ROOT", "FERRY_SFN_ROLE_ARN"]:
        assert var in env, var
    assert "FerryUiUrl" in load_template(TEMPLATE)["Outputs"]


def test_events_function_is_invoked_by_the_stack_rules_only(translated):
    """Both buses, the stack's rule prefix; the deploy function may touch those rules only."""
    res = translated["Resources"]
    assert res["EventBus"]["Type"] == "AWS::Events::EventBus"
    perms = [r["Properties"] for r in res.values() if r["Type"] == "AWS::Lambda::Permission"
             and r["Properties"]["FunctionName"] == {"Ref": "EventsFunction"}
             and r["Properties"]["Principal"] != "apigateway.amazonaws.com"]
    assert len(perms) == 2
    assert {p["Principal"] for p in perms} == {"events.amazonaws.com"}
    arns = json.dumps([p["SourceArn"] for p in perms])
    assert arns.count("ferry-${Short}-*") == 2 and "rule/${Bus}/" in arns, arns
    tpl = load_template(TEMPLATE)["Resources"]  # before SAM moves policies into roles
    deploy = tpl["DeployFunction"]["Properties"]
    env = deploy["Environment"]["Variables"]
    assert env["FERRY_EVENTS_FUNCTION_ARN"] == {"Fn::GetAtt": ["EventsFunction", "Arn"]}
    statements = [s for p in deploy["Policies"] for s in p.get("Statement", [])]
    rules = [s for s in statements if s.get("Sid") == "DeploymentRules"]
    assert rules and all("ferry-${Short}-*" in json.dumps(r["Resource"]) for r in rules)
    events = tpl["EventsFunction"]["Properties"]
    assert events["LoggingConfig"] == {"LogGroup": {"Ref": "EventsLogGroup"}}
    assert "RetentionInDays" in res["EventsLogGroup"]["Properties"]
    actions = {a for s in events["Policies"][0]["Statement"] for a in
               (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert "states:StartExecution" in actions and "ssm:GetParameter" in actions
    assert not any(a.endswith(":*") for a in actions), actions
    assert "FerryEventBus" in load_template(TEMPLATE)["Outputs"]


def test_the_events_routes_need_the_api_key_and_reach_the_events_function(translated):
    """POST/GET /ferry/v1/events: keyed like the metadata API (API Gateway refuses a request
    without x-api-key before any function runs), served by the events function, not the
    metadata function's {proxy+}."""
    apis = [r for r in translated["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    paths = apis[0]["Properties"]["Body"]["paths"]
    route = paths["/ferry/v1/events"]
    assert set(route) == {"post", "get"}, route
    for method, op in route.items():
        assert any("api_key" in s for s in op.get("security", [])), method
        uri = json.dumps(op["x-amazon-apigateway-integration"]["uri"])
        assert "EventsFunction" in uri and "MetadataFunction" not in uri, uri
        assert op["x-amazon-apigateway-integration"]["type"] == "aws_proxy"
    keys = apis[0]["Properties"]["Body"]["securityDefinitions"]["api_key"]
    assert (keys["in"], keys["name"]) == ("header", "x-api-key"), keys
    invokes = [r["Properties"] for r in translated["Resources"].values()
               if r["Type"] == "AWS::Lambda::Permission"
               and r["Properties"]["FunctionName"] == {"Ref": "EventsFunction"}
               and r["Properties"]["Principal"] == "apigateway.amazonaws.com"]
    assert invokes and all("/ferry/v1/events" in json.dumps(p["SourceArn"]) for p in invokes), invokes
