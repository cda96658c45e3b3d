"""Prints template.yaml as SAM's translator turns it into CloudFormation (what `sam deploy` submits), as JSON.
Run with the SAM CLI virtualenv: .venv/bin/python test/template/samTranslate.py template.yaml
CodeUri/ContentUri become S3 URIs first, as `sam package` would make them; no AWS call is made."""
import json
import os
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    def load(self):
        return {}


os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
with open(sys.argv[1]) as f:
    template = yaml_parse(f.read())
for resource in template["Resources"].values():
    properties = resource.get("Properties", {})
    for key in ("CodeUri", "ContentUri"):
        if key in properties:
            properties[key] = "s3://bucket/key"
print(json.dumps(transform(template, {}, NoManagedPolicies())))
