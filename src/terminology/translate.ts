/** ConceptMap translation — http://hl7.org/fhir/R4/conceptmap-operation-translate.html */
import type { Json } from './codesystem.js';

export interface TranslateRequest {
  system: string;
  code: string;
  /** Only groups mapping into this target system. */
  targetSystem?: string;
  /** Only maps whose source (and target) scope is this ValueSet. */
  source?: string;
  target?: string;
  /** Map from target to source. */
  reverse?: boolean;
}

export interface Match { equivalence: string; concept: { system?: string; version?: string; code?: string; display?: string }; source: string }

const asArray = <T>(v: unknown): T[] => (Array.isArray(v) ? v as T[] : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

const scope = (map: Json, side: 'source' | 'target') => str(map[`${side}Uri`]) ?? str(map[`${side}Canonical`]);

/** Whether a map's declared scope fits the request's source/target ValueSets (an undeclared scope fits). */
export function mapApplies(map: Json, req: TranslateRequest): boolean {
  const [from, to] = req.reverse ? ['target', 'source'] as const : ['source', 'target'] as const;
  const fits = (wanted: string | undefined, side: 'source' | 'target') =>
    wanted === undefined || scope(map, side) === undefined || scope(map, side)?.split('|')[0] === wanted.split('|')[0];
  return fits(req.source, from) && fits(req.target, to);
}

/** Every match of the code in the map's groups; unmapped modes `provided` and `fixed` apply when no element does. */
export function translate(map: Json, req: TranslateRequest): Match[] {
  const url = String(map.url ?? '');
  const out: Match[] = [];
  for (const group of asArray<Json>(map.group)) {
    const [from, to] = req.reverse ? [str(group.target), str(group.source)] : [str(group.source), str(group.target)];
    const toVersion = str(req.reverse ? group.sourceVersion : group.targetVersion);
    if (from !== req.system || (req.targetSystem !== undefined && to !== req.targetSystem)) continue;
    const before = out.length;
    for (const element of asArray<Json>(group.element)) {
      for (const target of asArray<Json>(element.target)) {
        const [a, b] = req.reverse ? [target, element] : [element, target];
        if (str(a.code) !== req.code) continue;
        const equivalence = str(target.equivalence) ?? 'equivalent';
        out.push({ equivalence, source: url, concept: { ...(to ? { system: to } : {}), ...(toVersion ? { version: toVersion } : {}),
          ...(str(b.code) ? { code: str(b.code) } : {}), ...(str(b.display) ? { display: str(b.display) } : {}) } });
      }
    }
    const unmapped = group.unmapped as Json | undefined;
    if (out.length === before && unmapped && !req.reverse) {
      if (unmapped.mode === 'provided') out.push({ equivalence: 'equal', source: url, concept: { ...(to ? { system: to } : {}), code: req.code } });
      if (unmapped.mode === 'fixed' && str(unmapped.code)) {
        out.push({ equivalence: 'equivalent', source: url, concept: { ...(to ? { system: to } : {}), code: str(unmapped.code),
          ...(str(unmapped.display) ? { display: str(unmapped.display) } : {}) } });
      }
    }
  }
  return out;
}

/** R4: result is true when some match is neither unmatched nor disjoint. */
export const translated = (matches: Match[]) => matches.some((m) => m.equivalence !== 'unmatched' && m.equivalence !== 'disjoint');
