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


def substitute(value, name, item):
    """A loop variable replaced in a fragment: ${Name} and &{Name} in strings and keys, and {Ref: Name}."""
    if isinstance(value, str):
        return value.replace("${%s}" % name, item).replace("&{%s}" % name, "".join(c for c in item if c.isalnum()))
    if isinstance(value, list):
        return [substitute(v, name, item) for v in value]
    if isinstance(value, dict):
        if list(value.items()) == [("Ref", name)]:
            return item
        return {substitute(k, name, item): substitute(v, name, item) for k, v in value.items()}
    return value


def expand_for_each(section):
    """AWS::LanguageExtensions' Fn::ForEach over written-out lists, as CloudFormation expands it before SAM runs."""
    out = {}
    for key, value in section.items():
        if not key.startswith("Fn::ForEach::"):
            out[key] = value
            continue
        name, collection, fragment = value
        for item in collection:
            out.update(expand_for_each(substitute(fragment, name, item)))
    return out


with open(sys.argv[1]) as f:
    template = yaml_parse(f.read())
template["Resources"] = expand_for_each(template["Resources"])
transforms = template["Transform"] if isinstance(template["Transform"], list) else [template["Transform"]]
template["Transform"] = [t for t in transforms if t != "AWS::LanguageExtensions"][0]
for resource in template["Resources"].values():
    properties = resource.get("Properties", {})
    for key in ("CodeUri", "ContentUri"):
        if key in properties:
            properties[key] = "s3://bucket/key"
print(json.dumps(transform(template, {}, NoManagedPolicies())))
