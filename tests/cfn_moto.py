"""Bring a translated SAM template up in moto's CloudFormation.

moto's CloudFormation is a smoke test, not a faithful deploy (see ../shared/TOOLING.md §1). These
are the only changes made to the template for it, each for a documented moto gap:
- resources are listed in dependency order (moto resolves references in listing order);
- the Batch compute environment gets a ServiceRole (moto raises KeyError without one; real AWS
  uses the service-linked role);
- the RestApi gets a Name (SAM's OpenAPI Body carries it; moto ignores Body);
- the API Gateway Deployment and Stage are dropped (moto ignores the OpenAPI Body, then reports
  that the REST API has no methods).
"""

import re

# Types moto's CloudFormation does not implement: the stack reports them created, nothing exists.
MOTO_UNSUPPORTED = {
    "AWS::SecretsManager::Secret",
    "AWS::Scheduler::ScheduleGroup",
    "AWS::S3::BucketPolicy",
    "AWS::ApiGateway::ApiKey",
    "AWS::ApiGateway::UsagePlan",
    "AWS::ApiGateway::UsagePlanKey",
}
# Types the shim removes (see the module doc).
SHIM_DROPPED = {"AWS::ApiGateway::Deployment", "AWS::ApiGateway::Stage"}


def _deps(node, names):
    out = set()

    def walk(n):
        if isinstance(n, dict):
            for k, v in n.items():
                if k == "Ref" and isinstance(v, str) and v in names:
                    out.add(v)
                elif k == "Fn::GetAtt":
                    target = v[0] if isinstance(v, list) else v.split(".")[0]
                    if target in names:
                        out.add(target)
                elif k == "Fn::Sub":
                    text = v if isinstance(v, str) else v[0]
                    for m in re.findall(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}", text):
                        if m in names:
                            out.add(m)
                    if not isinstance(v, str):
                        walk(v[1])
                elif k == "DependsOn":
                    out.update([v] if isinstance(v, str) else v)
                else:
                    walk(v)
        elif isinstance(n, list):
            for x in n:
                walk(x)

    walk(node)
    return out & names


def dependency_order(resources):
    names = set(resources)
    order, seen = [], set()

    def visit(n, stack):
        if n in seen or n in stack:
            return
        for d in sorted(_deps(resources[n], names)):
            visit(d, stack | {n})
        seen.add(n)
        order.append(n)

    for n in sorted(resources):
        visit(n, frozenset())
    return {n: resources[n] for n in order}


def shim_for_moto(template):
    """Apply the documented shims in place; returns {logical id: type} of dropped resources."""
    res = template["Resources"]
    dropped = {n: r["Type"] for n, r in res.items() if r["Type"] in SHIM_DROPPED}
    for n in dropped:
        del res[n]
    res["MotoBatchServiceRole"] = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "batch.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        },
    }
    for n, r in res.items():
        if r["Type"] == "AWS::Batch::ComputeEnvironment":
            r["Properties"]["ServiceRole"] = {"Fn::GetAtt": ["MotoBatchServiceRole", "Arn"]}
        if r["Type"] == "AWS::ApiGateway::RestApi":
            r["Properties"].setdefault("Name", n)
        if "DependsOn" in r:
            deps = [r["DependsOn"]] if isinstance(r["DependsOn"], str) else r["DependsOn"]
            deps = [d for d in deps if d not in dropped]
            if deps:
                r["DependsOn"] = deps
            else:
                del r["DependsOn"]
    template["Resources"] = dependency_order(res)
    return dropped
