"""Translate template.yaml (SAM) into plain CloudFormation, offline.

Used by the template tests: cfn-lint reads SAM directly, but moto's CloudFormation does not run
the SAM transform, so the tests translate first with aws-sam-translator (no AWS call: the
managed-policy map is static).
"""

import json
import os
import sys

import yaml
from samtranslator.translator.transform import transform


class _LoaderWithTags(yaml.SafeLoader):
    pass


def _tag(loader, suffix, node):
    name = "Fn::GetAtt" if suffix == "GetAtt" else ("Ref" if suffix == "Ref" else "Fn::" + suffix)
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_LoaderWithTags.add_multi_constructor("!", _tag)


class _StaticPolicies:
    """The managed policies the template names, without asking IAM."""

    def load(self):
        return {
            "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
            "AWSXRayDaemonWriteAccess": "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess",
        }


def load_template(path):
    with open(path) as f:
        return yaml.load(f, Loader=_LoaderWithTags)


def translate(template, code_bucket="local-artifacts"):
    """The plain CloudFormation for a SAM template dict; local CodeUri become S3 zips."""
    for name, res in template.get("Resources", {}).items():
        if res.get("Type") == "AWS::Serverless::Function":
            res["Properties"]["CodeUri"] = f"s3://{code_bucket}/{name}.zip"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return transform(template, {}, _StaticPolicies())


if __name__ == "__main__":
    print(json.dumps(translate(load_template(sys.argv[1])), indent=1, sort_keys=True))
