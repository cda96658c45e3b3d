/**
 * Writes template.yaml (or IN) with AWS::LanguageExtensions' Fn::ForEach expanded, as CloudFormation sees it at
 * deploy, for scanners that do not expand the loops themselves (checkov): `tsx scripts/expandTemplate.ts IN OUT`.
 */
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { TEMPLATE_PATH, readTemplate } from './template.js';

const [input = TEMPLATE_PATH, output] = process.argv.slice(2);
if (!output) {
  console.error('usage: tsx scripts/expandTemplate.ts [IN] OUT');
  process.exit(2);
}
const template = readTemplate(input) as unknown as Record<string, unknown>;
const transforms = ([] as unknown[]).concat(template.Transform ?? []);
template.Transform = transforms.filter((name) => name !== 'AWS::LanguageExtensions');
writeFileSync(output, stringify(template, { aliasDuplicateObjects: false }));
console.log(`${output}: ${Object.keys(template.Resources as object).length} resources, Fn::ForEach expanded`);
