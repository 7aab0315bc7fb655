/** Escaping in search values: `\,` `\$` `\|` `\\` — http://hl7.org/fhir/R4/search.html#escaping */
import { badRequest } from '../errors.js';

const ESCAPABLE = new Set([',', '$', '|', '\\']);

/** Throws 400 for a backslash that does not escape one of , $ | \ (applied after percent-decoding). */
export function checkEscapes(value: string, name: string): void {
  for (let i = 0; i < value.length; i++) {
    if (value[i] !== '\\') continue;
    if (!ESCAPABLE.has(value[i + 1] ?? '')) {
      throw badRequest(`Search parameter '${name}' has a lone '\\'; escape it as '\\\\'`, [name]);
    }
    i++;
  }
}

/** Splits on every unescaped occurrence of sep, keeping escapes in the parts. */
export function splitUnescaped(value: string, sep: string): string[] {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    if (value[i] === '\\') i++;
    else if (value[i] === sep) {
      parts.push(value.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(value.slice(start));
  return parts;
}

/** Removes the escapes (the value passed checkEscapes). */
export const unescape = (value: string): string => value.replace(/\\(.)/g, '$1');

/** Escapes a literal for a LIKE pattern whose escape character is the default backslash. */
export const escapeLike = (value: string): string => value.replace(/[\\%_]/g, '\\$&');
