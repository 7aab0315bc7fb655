/** What every suite receives: the options, the two server processes, and what the ingest suite learned. */
import type { Child } from './child.js';
import type { Options } from '../options.js';
import type { Timing } from './stats.js';

export interface SamplePatient {
  id: string;
  mrn: string;
  family: string;
  given: string;
}

export interface BenchContext {
  options: Options;
  hearth: Child;
  /** Hosts the baselines; the same process as hearth under PGlite. */
  raw: Child;
  /** Absolute FHIR base of the bench tenant, e.g. http://127.0.0.1:41234/fhir/bench-1a2b3c. */
  base: string;
  /** A system/*.cruds access token for the bench tenant (every FHIR request carries it). */
  token: string;
  /** The bench tenant's schema, for the hand-written SQL. */
  schema: string;
  /** Starts the read baseline's server: a fresh minimal Fastify + pg process (or, under PGlite, Hearth's own). */
  startReadBaseline(): Promise<{ child: Child; origin: string; stop(): Promise<void> }>;
  /** HEARTH_IMPORT_DIR of the Hearth process: where the import suite writes its NDJSON inputs. */
  importDir: string;
  /** Filled by the ingest suite; `create` by the create suite (the book suite reports beside it). */
  state: { patients: SamplePatient[]; resources: number; create?: Timing };
}
