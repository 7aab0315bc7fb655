// Expands the R4 core ValueSets that required bindings name, from the CodeSystems shipped beside them — https://hl7.org/fhir/R4/terminologies.html#required
/*
 * Only what can be enumerated exactly is expanded: includes of whole CodeSystems whose content is `complete`,
 * explicit concept lists, other ValueSets (intersected, as compose.include.valueSet means), and excludes by concept.
 * A filter, a CodeSystem that is not shipped (MIME types, UCUM, ISO 4217 currencies) or a missing ValueSet leaves the
 * binding unexpanded, with the reason, and so unenforced.
 */

interface Concept { code: string; concept?: Concept[] }
interface CodeSystem { resourceType: 'CodeSystem'; url: string; content?: string; concept?: Concept[] }
interface Include { system?: string; concept?: { code: string }[]; filter?: unknown[]; valueSet?: string[] }
interface ValueSet { resourceType: 'ValueSet'; url: string; compose?: { include?: Include[]; exclude?: Include[] } }
type Terminology = CodeSystem | ValueSet | { resourceType: string; url?: string };

/** A ValueSet's members as `system|code` keys, or why they cannot be listed. */
export type Expansion = { codes: Set<string> } | { reason: string };

export const codingKey = (system: string | undefined, code: string) => `${system ?? ''}|${code}`;

function allCodes(concepts: Concept[] | undefined, out: string[] = []): string[] {
  for (const c of concepts ?? []) { out.push(c.code); allCodes(c.concept, out); }
  return out;
}

export function valueSetExpander(resources: Terminology[]): (url: string) => Expansion {
  const systems = new Map<string, CodeSystem>();
  const sets = new Map<string, ValueSet>();
  for (const r of resources) {
    if (r.resourceType === 'CodeSystem') systems.set((r as CodeSystem).url, r as CodeSystem);
    if (r.resourceType === 'ValueSet') sets.set((r as ValueSet).url, r as ValueSet);
  }
  const done = new Map<string, Expansion>();

  function include(inc: Include, seen: string[]): Expansion {
    if (inc.filter?.length) return { reason: `filters on ${inc.system}` };
    let codes: Set<string> | undefined;
    if (inc.concept) codes = new Set(inc.concept.map((c) => codingKey(inc.system, c.code)));
    else if (inc.system) {
      const cs = systems.get(inc.system);
      if (cs?.content !== 'complete') return { reason: `code system ${inc.system} is not shipped` };
      codes = new Set(allCodes(cs.concept).map((c) => codingKey(inc.system, c)));
    }
    for (const url of inc.valueSet ?? []) {
      const sub = expand(url.split('|')[0]!, seen);
      if ('reason' in sub) return sub;
      codes = codes ? new Set([...codes].filter((c) => sub.codes.has(c))) : sub.codes;
    }
    return { codes: codes ?? new Set() };
  }

  function expand(url: string, seen: string[] = []): Expansion {
    const known = done.get(url);
    if (known) return known;
    if (seen.includes(url)) return { reason: `value set ${url} includes itself` };
    const vs = sets.get(url);
    let result: Expansion;
    if (!vs?.compose) result = { reason: `value set ${url} is not shipped` };
    else {
      const codes = new Set<string>();
      result = { codes };
      for (const inc of vs.compose.include ?? []) {
        const part = include(inc, [...seen, url]);
        if ('reason' in part) { result = part; break; }
        for (const c of part.codes) codes.add(c);
      }
      for (const exc of vs.compose.exclude ?? []) {
        if (!exc.concept || exc.filter?.length || exc.valueSet?.length) { result = { reason: `an exclude of ${url} is not a concept list` }; break; }
        for (const c of exc.concept) codes.delete(codingKey(exc.system, c.code));
      }
    }
    done.set(url, result);
    return result;
  }
  return (url) => expand(url.split('|')[0]!);
}
