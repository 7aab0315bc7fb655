/** Normalisation of search strings on the query side — http://hl7.org/fhir/R4/search.html#string (fhir-search.md §3.3) */

/**
 * Case-, accent- and punctuation-insensitive form: NFD, combining marks removed, lower case, punctuation and
 * symbols to spaces, whitespace collapsed. Must equal the index side's normalisation of idx_string.norm.
 */
export function normalizeText(value: string): string {
  return value.normalize('NFD').replace(/\p{M}+/gu, '').toLowerCase()
    .replace(/[\p{P}\p{S}]+/gu, ' ').replace(/\s+/g, ' ').trim();
}
