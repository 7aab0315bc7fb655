/**
 * The terminology operations (issue #15 §6) over the tenant's CodeSystems, ValueSets and ConceptMaps and the R4 core
 * content: CodeSystem $lookup, $validate-code, $subsumes; ValueSet $expand, $validate-code; ConceptMap $translate —
 * http://hl7.org/fhir/R4/terminology-service.html. GET with primitive parameters, or POST with a Parameters body
 * (Coding and CodeableConcept parameters, a ValueSet, CodeSystem or ConceptMap given inline).
 */
import { randomUUID } from 'node:crypto';
import { badRequest, methodNotAllowed, notFound, terminologyNotFound } from '../errors.js';
import type { FhirRequest, FhirResult } from '../fhir/request.js';
import type { Resource } from '../fhir/types.js';
import type { Context, Deps } from '../interactions/context.js';
import type { OperationTarget } from '../interactions/operations.js';
import { compileContext } from '../interactions/search.js';
import { terminologyStore } from '../search/terminology.js';
import { CodeSystemIndex, type Json } from '../terminology/codesystem.js';
import type { Kind } from '../terminology/core.js';
import { MAX_UNPAGED, type Member, Terminology } from '../terminology/terminology.js';
import { mapApplies, translate, translated } from '../terminology/translate.js';
import { type OperationInputs, operationInputs } from './parameters.js';

interface Coding { system?: string; version?: string; code?: string; display?: string }

type Out = { name: string } & Record<string, unknown>;
const parameters = (parameter: Out[]): FhirResult => ({ status: 200, body: { resourceType: 'Parameters', parameter } as Resource });

const asArray = <T>(v: unknown): T[] => (Array.isArray(v) ? v as T[] : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** The operation's inputs, plus its complex (Coding, CodeableConcept) parameters, which only a POST body carries. */
interface Inputs extends OperationInputs { complex<T>(name: string, key: string): T[] }

function inputsOf(req: FhirRequest, name: string, resourceType?: string, resourceName?: string): Inputs {
  if (req.method !== 'GET' && req.method !== 'POST') throw methodNotAllowed(`$${name} is invoked with GET or POST`);
  const base = operationInputs(req, resourceType, resourceName);
  const body = req.body as { resourceType?: string; parameter?: unknown } | undefined;
  const list = body && typeof body === 'object' && body.resourceType === 'Parameters' ? asArray<Json>(body.parameter) : [];
  return {
    ...base,
    complex: <T>(param: string, key: string) => list.filter((p) => p.name === param && p[key] && typeof p[key] === 'object').map((p) => p[key] as T),
  };
}

function count(inputs: OperationInputs, name: string): number | undefined {
  const v = inputs.one(name);
  if (v === undefined) return undefined;
  if (!/^\d{1,7}$/.test(v)) throw badRequest(`${name} must be a whole number, not '${v}'`);
  return Number(v);
}

function flag(inputs: OperationInputs, name: string): boolean | undefined {
  const v = inputs.one(name);
  if (v === undefined) return undefined;
  if (v !== 'true' && v !== 'false') throw badRequest(`${name} must be true or false, not '${v}'`);
  return v === 'true';
}

function terminology(deps: Deps, ctx: Context): Terminology {
  return new Terminology(terminologyStore(ctx.tx ?? deps.db, compileContext(deps, ctx)));
}

/** The resource the operation works on: the instance, the one given inline, or the one the url names. */
async function subject(tx: Terminology, deps: Deps, ctx: Context, t: OperationTarget, inputs: OperationInputs, kind: Kind,
  inline: string, versionParam: string): Promise<Json | undefined> {
  if (t.id) {
    const found = await terminologyStore(ctx.tx ?? deps.db, compileContext(deps, ctx)).find(kind, `${kind}/${t.id}`);
    if (!found) throw notFound(kind, t.id);
    return found;
  }
  const given = inputs.resource(inline) as Json | undefined;
  if (given) {
    if (given.resourceType !== kind) throw badRequest(`Parameter ${inline} must be a ${kind}`);
    return given;
  }
  const url = inputs.one('url');
  if (url === undefined) return undefined;
  const version = inputs.one(versionParam);
  if (kind === 'ValueSet') return tx.valueSet(url, version);
  if (kind === 'ConceptMap') return tx.conceptMap(url, version);
  return (await tx.requireCodeSystem(url, version)).resource;
}

const coding = (m: Member) => ({ system: m.system, ...(m.version ? { version: m.version } : {}), code: m.code,
  ...(m.display ? { display: m.display } : {}) });

// ---- ValueSet/$expand ----

export async function expandOperation(deps: Deps, ctx: Context, req: FhirRequest, t: OperationTarget): Promise<FhirResult> {
  const inputs = inputsOf(req, 'expand', 'ValueSet', 'valueSet');
  const tx = terminology(deps, ctx);
  const vs = await subject(tx, deps, ctx, t, inputs, 'ValueSet', 'valueSet', 'valueSetVersion');
  if (!vs) throw badRequest('$expand needs a ValueSet: the instance, the url parameter or a valueSet resource');
  const offset = count(inputs, 'offset') ?? 0;
  const size = count(inputs, 'count');
  if (size !== undefined && size > MAX_UNPAGED) throw badRequest(`count may be at most ${MAX_UNPAGED}`, ['count']);
  const filter = inputs.one('filter');
  const activeOnly = flag(inputs, 'activeOnly');
  const e = await tx.expand(vs, { offset, ...(size !== undefined ? { count: size } : {}), ...(filter ? { filter } : {}),
    ...(activeOnly !== undefined ? { activeOnly } : {}) });
  const used: Out[] = [{ name: 'offset', valueInteger: offset }, ...(size !== undefined ? [{ name: 'count', valueInteger: size }] : []),
    ...(filter ? [{ name: 'filter', valueString: filter }] : []), ...(activeOnly !== undefined ? [{ name: 'activeOnly', valueBoolean: activeOnly }] : [])];
  const body = {
    resourceType: 'ValueSet', ...(vs.id ? { id: vs.id } : {}),
    ...Object.fromEntries(['url', 'version', 'name', 'title', 'status'].filter((k) => vs[k] !== undefined).map((k) => [k, vs[k]])),
    status: vs.status ?? 'active',
    expansion: {
      identifier: `urn:uuid:${randomUUID()}`, timestamp: new Date().toISOString(), total: e.total, offset: e.offset,
      parameter: used,
      ...(e.contains.length > 0 ? { contains: e.contains.map((m) => ({ ...coding(m), ...(m.inactive ? { inactive: true } : {}),
        ...(m.abstract ? { abstract: true } : {}) })) } : {}),
    },
  };
  return { status: 200, body: body as Resource };
}

// ---- $validate-code (ValueSet and CodeSystem) ----

/** The codings to check: coding, codeableConcept's codings, or code + system (+ display). */
function codingsOf(inputs: Inputs, systemParam: string, versionParam: string, fixedSystem?: string): Coding[] {
  const fromCoding = inputs.complex<Coding>('coding', 'valueCoding');
  const fromConcept = inputs.complex<{ coding?: Coding[] }>('codeableConcept', 'valueCodeableConcept').flatMap((c) => asArray<Coding>(c.coding));
  const code = inputs.one('code');
  const system = inputs.one(systemParam) ?? fixedSystem;
  const display = inputs.one('display');
  const version = inputs.one(versionParam);
  const plain: Coding[] = code !== undefined ? [{ code, ...(system ? { system } : {}), ...(display !== undefined ? { display } : {}),
    ...(version ? { version } : {}) }] : [];
  const all = [...plain, ...fromCoding, ...fromConcept];
  if (all.length === 0) throw badRequest('Give code (with system), coding or codeableConcept');
  return all;
}

interface Verdict { result: boolean; message?: string; display?: string }

function displayVerdict(c: Coding, m: Member, caseSensitive = true): Verdict {
  const same = (a: string, b: string) => (caseSensitive ? a === b : a.toLowerCase() === b.toLowerCase());
  if (c.display !== undefined && m.display !== undefined && !same(c.display, m.display)) {
    return { result: false, display: m.display,
      message: `The display '${c.display}' is not the display of ${m.system}#${m.code}, which is '${m.display}'` };
  }
  const notes = [m.inactive ? `${m.system}#${m.code} is inactive` : '', m.unchecked ? `CodeSystem ${m.system} is not known to this server: the code was not checked against it` : '']
    .filter(Boolean);
  return { result: true, ...(m.display ? { display: m.display } : {}), ...(notes.length ? { message: notes.join('; ') } : {}) };
}

const verdictParameters = (v: Verdict): FhirResult => parameters([{ name: 'result', valueBoolean: v.result },
  ...(v.message ? [{ name: 'message', valueString: v.message }] : []), ...(v.display ? [{ name: 'display', valueString: v.display }] : [])]);

/** Any valid coding makes the answer true; otherwise the first coding's reason. */
function firstValid(verdicts: Verdict[]): Verdict {
  return verdicts.find((v) => v.result) ?? verdicts[0]!;
}

export async function valueSetValidateCode(deps: Deps, ctx: Context, req: FhirRequest, t: OperationTarget): Promise<FhirResult> {
  const inputs = inputsOf(req, 'validate-code', 'ValueSet', 'valueSet');
  const tx = terminology(deps, ctx);
  const vs = await subject(tx, deps, ctx, t, inputs, 'ValueSet', 'valueSet', 'valueSetVersion');
  if (!vs) throw badRequest('$validate-code needs a ValueSet: the instance, the url parameter or a valueSet resource');
  const verdicts: Verdict[] = [];
  for (const c of codingsOf(inputs, 'system', 'systemVersion')) {
    if (c.code === undefined) continue;
    if (c.system === undefined) { verdicts.push({ result: false, message: `The code '${c.code}' has no system` }); continue; }
    const m = await tx.memberOf(vs, c.system, c.code);
    const cs = m && !m.unchecked ? await tx.codeSystem(c.system) : undefined;
    verdicts.push(m ? displayVerdict(c, m, cs?.caseSensitive ?? true)
      : { result: false, message: `${c.system}#${c.code} is not in the ValueSet ${String(vs.url ?? '(inline)')}` });
  }
  if (verdicts.length === 0) throw badRequest('Give code (with system), coding or codeableConcept');
  return verdictParameters(firstValid(verdicts));
}

export async function codeSystemValidateCode(deps: Deps, ctx: Context, req: FhirRequest, t: OperationTarget): Promise<FhirResult> {
  const inputs = inputsOf(req, 'validate-code', 'CodeSystem', 'codeSystem');
  const tx = terminology(deps, ctx);
  const resource = await subject(tx, deps, ctx, t, inputs, 'CodeSystem', 'codeSystem', 'version');
  if (!resource) throw badRequest('$validate-code needs a CodeSystem: the instance, the url parameter or a codeSystem resource');
  const cs = CodeSystemIndex.of(resource);
  const verdicts = codingsOf(inputs, 'url', 'version', cs.url).map((c): Verdict => {
    if (c.system !== undefined && c.system !== cs.url) return { result: false, message: `The coding's system ${c.system} is not ${cs.url}` };
    const concept = c.code !== undefined ? cs.get(c.code) : undefined;
    if (!concept) return { result: false, message: `'${c.code ?? ''}' is not a code of ${cs.url}` };
    return displayVerdict(c, { system: cs.url, code: concept.code, ...(concept.display ? { display: concept.display } : {}),
      ...(concept.inactive ? { inactive: true } : {}) }, cs.caseSensitive);
  });
  return verdictParameters(firstValid(verdicts));
}

// ---- CodeSystem/$lookup ----

/** The system and code an operation is about: code + system, or a coding. */
function oneCoding(inputs: Inputs, codeParam: string, codingParam: string, system?: string): { system?: string; code: string; version?: string } {
  const code = inputs.one(codeParam);
  const given = inputs.complex<Coding>(codingParam, 'valueCoding')[0];
  const s = inputs.one('system') ?? system;
  const version = inputs.one('version');
  if (code !== undefined) return { code, ...(s ? { system: s } : {}), ...(version ? { version } : {}) };
  if (given?.code !== undefined) {
    return { code: given.code, ...(given.system ?? s ? { system: given.system ?? s } : {}), ...(given.version ?? version ? { version: given.version ?? version } : {}) };
  }
  throw badRequest(`Give ${codeParam} (with system) or ${codingParam}`);
}

export async function lookupOperation(deps: Deps, ctx: Context, req: FhirRequest, t: OperationTarget): Promise<FhirResult> {
  const inputs = inputsOf(req, 'lookup');
  const tx = terminology(deps, ctx);
  const instance = t.id ? await subject(tx, deps, ctx, t, inputs, 'CodeSystem', 'codeSystem', 'version') : undefined;
  const wanted = oneCoding(inputs, 'code', 'coding', str(instance?.url));
  if (!wanted.system) throw badRequest('$lookup needs the system of the code');
  const cs = instance ? CodeSystemIndex.of(instance) : await tx.requireCodeSystem(wanted.system, wanted.version);
  const concept = cs.get(wanted.code);
  if (!concept) throw terminologyNotFound(`'${wanted.code}' is not a code of ${cs.url}`, ['code']);
  const asked = new Set(inputs.all('property'));
  const want = (p: string) => asked.size === 0 || asked.has(p);
  const property: Out[] = [];
  const add = (code: string, value: Record<string, unknown>) => { if (want(code)) property.push({ name: 'property', part: [{ name: 'code', valueCode: code }, { name: 'value', ...value }] }); };
  if (concept.definition) add('definition', { valueString: concept.definition });
  for (const p of concept.parents) add('parent', { valueCode: p });
  for (const c of concept.children) add('child', { valueCode: c });
  if (concept.inactive) add('inactive', { valueBoolean: true });
  for (const p of concept.property) {
    if (p.code === 'parent' || p.code === 'child') continue;
    const value = Object.fromEntries(Object.entries(p.value).filter(([k]) => k.startsWith('value')));
    if (Object.keys(value).length === 1) add(p.code, value);
  }
  const designation = want('designation') ? concept.designation.map((d): Out => ({ name: 'designation', part: [
    ...(str(d.language) ? [{ name: 'language', valueCode: d.language }] : []), ...(d.use ? [{ name: 'use', valueCoding: d.use }] : []),
    { name: 'value', valueString: str(d.value) ?? '' }] })) : [];
  return parameters([
    { name: 'name', valueString: cs.name ?? cs.url }, ...(cs.version ? [{ name: 'version', valueString: cs.version }] : []),
    ...(concept.display ? [{ name: 'display', valueString: concept.display }] : []), ...designation, ...property,
  ]);
}

// ---- CodeSystem/$subsumes ----

export async function subsumesOperation(deps: Deps, ctx: Context, req: FhirRequest, t: OperationTarget): Promise<FhirResult> {
  const inputs = inputsOf(req, 'subsumes');
  const tx = terminology(deps, ctx);
  const instance = t.id ? await subject(tx, deps, ctx, t, inputs, 'CodeSystem', 'codeSystem', 'version') : undefined;
  const a = oneCoding(inputs, 'codeA', 'codingA', str(instance?.url));
  const b = oneCoding(inputs, 'codeB', 'codingB', str(instance?.url));
  if (!a.system || !b.system) throw badRequest('$subsumes needs the system of both codes');
  if (a.system !== b.system) throw badRequest(`codeA and codeB are of different systems (${a.system}, ${b.system})`);
  const cs = instance ? CodeSystemIndex.of(instance) : await tx.requireCodeSystem(a.system, a.version ?? b.version);
  for (const [param, c] of [['codeA', a], ['codeB', b]] as const) {
    if (!cs.get(c.code)) throw terminologyNotFound(`'${c.code}' is not a code of ${cs.url}`, [param]);
  }
  return parameters([{ name: 'outcome', valueCode: cs.subsumption(a.code, b.code) }]);
}

// ---- ConceptMap/$translate ----

export async function translateOperation(deps: Deps, ctx: Context, req: FhirRequest, t: OperationTarget): Promise<FhirResult> {
  const inputs = inputsOf(req, 'translate', 'ConceptMap', 'conceptMap');
  const tx = terminology(deps, ctx);
  const named = await subject(tx, deps, ctx, t, inputs, 'ConceptMap', 'conceptMap', 'conceptMapVersion');
  const reverse = flag(inputs, 'reverse') ?? false;
  const codings = [...inputs.one('code') !== undefined ? [{ code: inputs.one('code'), system: inputs.one('system') }] : [],
    ...inputs.complex<Coding>('coding', 'valueCoding'),
    ...inputs.complex<{ coding?: Coding[] }>('codeableConcept', 'valueCodeableConcept').flatMap((c) => asArray<Coding>(c.coding))];
  if (codings.length === 0) throw badRequest('Give code (with system), coding or codeableConcept');
  const source = inputs.one('source');
  const target = inputs.one('target');
  const targetSystem = inputs.one('targetsystem');
  const maps = named ? [named] : await tx.conceptMaps();
  const matches = [];
  for (const c of codings) {
    if (c.code === undefined || c.system === undefined) throw badRequest('Each code to translate needs its system');
    const request = { system: c.system, code: c.code, reverse, ...(source ? { source } : {}), ...(target ? { target } : {}),
      ...(targetSystem ? { targetSystem } : {}) };
    for (const map of maps) if (named || mapApplies(map, request)) matches.push(...translate(map, request));
  }
  const result = translated(matches);
  return parameters([
    { name: 'result', valueBoolean: result },
    ...(result ? [] : [{ name: 'message', valueString: matches.length === 0 ? 'No mapping was found for the code' : 'The code maps only as unmatched or disjoint' }]),
    ...matches.map((m): Out => ({ name: 'match', part: [{ name: 'equivalence', valueCode: m.equivalence },
      { name: 'concept', valueCoding: m.concept }, ...(m.source ? [{ name: 'source', valueUri: m.source }] : [])] })),
  ]);
}
