/**
 * Required bindings (R4 terminologies.html#required) beyond the schema's enums: the ValueSet each enum stands for
 * (for the error's text) and the CodeableConcept elements with a required binding, checked here — a CodeableConcept
 * there must carry at least one coding of the ValueSet (system and code).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Issue } from '../errors.js';

export const BINDINGS_FILE = 'profiles/r4/required-bindings.json';

interface BindingsFile {
  /** ValueSet URL by `element name|codes separated by spaces`. */
  schemaEnums: Record<string, string>;
  codeableConcepts: Record<string, { valueSet: string; codings: string[] }>;
}

export interface RequiredBindings {
  /** The ValueSet of an enum, from the element's name and the codes ajv reports as allowed. */
  valueSetOfEnum(name: string, allowed: readonly unknown[]): string | undefined;
  /** Issues for CodeableConcepts with a required binding that hold no coding of their ValueSet. */
  checkCodeableConcepts(resource: Record<string, unknown>, issues: Issue[]): void;
}

interface Bound { steps: string[]; valueSet: string; codings: Set<string> }

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every value at `steps` below node, with its FHIRPath (`Condition.clinicalStatus`, `….plan[1].specificCost[0]…`). */
function* at(node: unknown, steps: string[], expression: string): Generator<[unknown, string]> {
  if (steps.length === 0) { yield [node, expression]; return; }
  if (!isObject(node)) return;
  const [name, ...rest] = steps as [string, ...string[]];
  const value = node[name];
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) yield* at(value[i], rest, `${expression}.${name}[${i}]`);
  } else if (value !== undefined) yield* at(value, rest, `${expression}.${name}`);
}

export function loadRequiredBindings(rootDir: string): RequiredBindings {
  const file = JSON.parse(readFileSync(join(rootDir, BINDINGS_FILE), 'utf8')) as BindingsFile;
  const byType = new Map<string, Bound[]>();
  for (const [path, { valueSet, codings }] of Object.entries(file.codeableConcepts)) {
    const [type, ...steps] = path.split('.') as [string, ...string[]];
    byType.set(type, [...(byType.get(type) ?? []), { steps, valueSet, codings: new Set(codings) }]);
  }
  return {
    // The key scripts/r4-schema.ts's enumKey builds.
    valueSetOfEnum: (name, allowed) => file.schemaEnums[`${name}|${allowed.filter((c) => c !== null).join(' ')}`],
    checkCodeableConcepts(resource, issues) {
      for (const bound of byType.get(String(resource.resourceType)) ?? []) {
        for (const [value, expression] of at(resource, bound.steps, String(resource.resourceType))) {
          const codings = isObject(value) && Array.isArray(value.coding) ? value.coding.filter(isObject) : [];
          if (codings.some((c) => bound.codings.has(`${typeof c.system === 'string' ? c.system : ''}|${String(c.code)}`))) continue;
          issues.push({ severity: 'error', code: 'code-invalid', expression: [expression],
            diagnostics: codings.length === 0
              ? `A coding from the required value set ${bound.valueSet} is needed`
              : `None of the codings is in the required value set ${bound.valueSet}` });
        }
      }
    },
  };
}
