/** What an export request cannot honour, collected under its `Prefer: handling` (bulk-data.md §3.9). */
import { type Issue, exportInputRefused } from '../errors.js';

/** `Prefer: handling=…` (http://hl7.org/fhir/R4/search.html#errors): undefined when the client did not say. */
export type Handling = 'strict' | 'lenient' | undefined;

/** Collects what the request cannot honour: a 400 at once, or an issue for the error file. */
export class Problems {
  readonly ignored: Issue[] = [];
  constructor(readonly handling: Handling) {}

  get lenient(): boolean {
    return this.handling === 'lenient';
  }

  /** Unsupported input: 400 unless the client asked for lenient handling (§3.9). */
  refuse(message: string, expression: string, code: Issue['code'] = 'not-supported'): void {
    if (!this.lenient) throw exportInputRefused(message, expression, code);
    this.note(message, expression, code, 'ignored: Prefer: handling=lenient');
  }

  /** Input the server may pass over: ignored with a warning unless the client asked for strict handling. */
  overlook(message: string, expression: string, code: Issue['code'] = 'not-supported'): void {
    if (this.handling === 'strict') throw exportInputRefused(message, expression, code);
    this.note(message, expression, code, this.lenient ? 'ignored: Prefer: handling=lenient' : 'ignored; Prefer: handling=strict refuses it');
  }

  private note(message: string, expression: string, code: Issue['code'], why: string): void {
    this.ignored.push({ severity: 'warning', code, diagnostics: `${message} (${why})`, expression: [expression] });
  }
}
