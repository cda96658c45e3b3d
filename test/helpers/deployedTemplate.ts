/** The template as CloudFormation would see it with some parameters: a resource's Ref is its logical id, GetAtt `Id.Attr`. */
import { type IntrinsicContext, evaluateCondition } from '../../local/template/intrinsics.js';
import type { Template } from '../../scripts/template.js';

export const deployContext = (template: Template, overrides: Record<string, string>) => {
  const parameters = Object.fromEntries(Object.entries(template.Parameters ?? {}).map(([name, spec]) => [name, overrides[name] ?? String(spec.Default ?? '')]));
  const ctx: IntrinsicContext = {
    parameters,
    pseudo: { 'AWS::Region': 'eu-west-1', 'AWS::AccountId': '123456789012', 'AWS::Partition': 'aws', 'AWS::StackName': 'iot', 'AWS::URLSuffix': 'amazonaws.com' },
    condition: (name) => evaluateCondition(template.Conditions?.[name], ctx),
    ref: (id) => (id in template.Resources ? id : undefined),
    getAtt: (id, attribute) => `${id}.${attribute}`,
  };
  /** Whether a resource or output exists with these parameters (its Condition holds). */
  const exists = (r: { Condition?: string }) => r.Condition === undefined || ctx.condition(r.Condition);
  return { ctx, parameters, exists };
};
