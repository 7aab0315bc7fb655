/** The shapes an import job keeps in the job table: its parameters, its resumable progress, its result (issue #14 §3). */

export interface ImportInput {
  /** The resource type every line must have (optional in the manifest: then any type). */
  type?: string;
  url: string;
}

export interface ImportParams {
  inputs: ImportInput[];
  /** Stop at the first bad line (batches before it stay committed). */
  strict: boolean;
  /** The kick-off request's URL and the tenant's FHIR base. */
  request: string;
  base: string;
  principal: { clientId: string; subject: string; fhirUser?: string };
}

export interface ImportCounts {
  /** Lines read (blank lines not counted), imported, refused. */
  read: number;
  imported: number;
  failed: number;
}

/** The resume point: the input, the byte offset and line number after the last committed batch, the outcome's length. */
export interface ImportProgress {
  input: number;
  offset: number;
  line: number;
  outcomeBytes: number;
  errors: number;
  counts: ImportCounts[];
  /** When the job first ran: its resources are those written since, for the dangling-reference report. */
  startedAt?: string;
  /** Dangling references written to the outcome at the end (set once reported, so a resumed job does not repeat them). */
  danglingReported?: number;
}

export interface ImportResult {
  transactionTime: string;
  inputs: (ImportInput & ImportCounts)[];
  errors: number;
  /** Set when a strict import stopped at a bad line. */
  stopped?: string;
}
