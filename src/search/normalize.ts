/** Normalisation of search strings on the query side — http://hl7.org/fhir/R4/search.html#string (fhir-search.md §3.3) */

/** Printable ASCII without tabs or line breaks: NFD leaves it as it is and it has no combining marks. */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
/** The ASCII characters of Unicode's punctuation (P) and symbol (S) categories: every printable one but letters, digits and space. */
const ASCII_PUNCTUATION = /[!-/:-@[-`{-~]+/g;

/** The general form, for any string. */
export function normalizeUnicode(value: string): string {
  return value.normalize('NFD').replace(/\p{M}+/gu, '').toLowerCase()
    .replace(/[\p{P}\p{S}]+/gu, ' ').replace(/\s+/g, ' ').trim();
}

/**
 * Case-, accent- and punctuation-insensitive form: NFD, combining marks removed, lower case, punctuation and
 * symbols to spaces, whitespace collapsed. Must equal the index side's normalisation of idx_string.norm.
 * Printable ASCII — most of what is indexed — takes a path without NFD and Unicode classes, with the same result
 * (test/search/normalize.test.ts compares the two over every printable ASCII character).
 */
export function normalizeText(value: string): string {
  if (!PRINTABLE_ASCII.test(value)) return normalizeUnicode(value);
  return value.toLowerCase().replace(ASCII_PUNCTUATION, ' ').replace(/ {2,}/g, ' ').trim();
}
