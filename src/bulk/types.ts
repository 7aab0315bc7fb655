/** The shapes an export job keeps in the job table: its parameters, its resumable progress, its files. */
import type { Issue } from '../errors.js';

/** System `$export`, `Patient/$export` or `Group/[id]/$export` — bulk-data.md §8. */
export type ExportLevel = 'system' | 'patient' | 'group';

/** Who kicked the export off: enough to rebuild the token's Access inside the job (bulk-data.md §1.6). */
export interface ExportPrincipal {
  clientId: string;
  subject: string;
  scope: string;
  fhirUser?: string;
  /**
   * A user managed by roles: the rules the kick-off ran under (the token's scopes met with the user's roles at
   * kick-off, auth/roles.ts), and the related patients of those with a relationship rule, by kind set.
   */
  rules?: { text: string; related?: string[] }[];
  related?: Record<string, string[]>;
  /** The purposes of use of the user's roles, which the patients' Consents may name (auth/consent.ts). */
  purposes?: string[];
}

/** job.params of an export: everything decided at kick-off. */
export interface ExportParams {
  level: ExportLevel;
  group?: string;
  /** The resource types exported, in file order (already checked against the token). */
  types: string[];
  /** `_since` as an ISO instant. */
  since?: string;
  /** `_elements` as given: `element` or `Type.element`. */
  elements?: string[];
  /** `_typeFilter` queries by type (ORed within a type), each a URL query string. */
  typeFilters?: Record<string, string[]>;
  /** POST `patient` ids (Patient- and Group-level only). */
  patients?: string[];
  /** The kick-off URL (without a POST body's parameters) for the manifest's `request`. */
  request: string;
  /** The tenant's FHIR base at kick-off (absolute references in _typeFilter count as local against it). */
  base: string;
  principal: ExportPrincipal;
  /** Parameters ignored under `Prefer: handling=lenient`: one OperationOutcome each in the error file (§3.9). */
  ignored: Issue[];
}

/** Which list of the manifest a file belongs to. */
export type FileKind = 'output' | 'deleted' | 'error';

/** One NDJSON file: complete, or (in progress.open) the one being appended to. */
export interface ExportFile {
  kind: FileKind;
  /** Resource type of every line (Bundle for deleted, OperationOutcome for errors). */
  type: string;
  name: string;
  part: number;
  count: number;
  /** Durable length at the last checkpoint: a resumed job truncates the file to it. */
  bytes: number;
}

/** job.progress of an export: the resume point. */
export interface ExportProgress {
  [k: string]: unknown;
  phase: 'scan' | 'deleted' | 'done';
  transactionTime: string;
  /** Last resource row (rid) whose line is durable in the current phase. */
  cursor: number;
  /** Highest rid at transactionTime: the scan's progress is cursor ÷ maxRid. */
  maxRid: number;
  /** Resources written (progress.done for $job-status). */
  done: number;
  open: Record<string, ExportFile>;
  closed: ExportFile[];
  /** Set just before a job fails on purpose: the status answer (4xx/5xx + OperationOutcome). */
  failure?: { status: number; code: string; message: string };
}

/** job.result of a completed export. */
export interface ExportResult {
  transactionTime: string;
  files: ExportFile[];
}
