/**
 * Claim adjudication (issue #18 §5, Claim/$submit): a Claim checked against the patient's Coverage and the fee schedule
 * becomes a ClaimResponse with item adjudications, the patient's share and errors — http://hl7.org/fhir/R4/claim.html,
 * http://hl7.org/fhir/R4/claimresponse.html, http://hl7.org/fhir/R4/coverage.html
 *
 * Claim-level errors (no Coverage, not active, another patient's, another payer's) make the outcome `error` without
 * item adjudications. Each item is then priced: eligible = min(submitted, fee × quantity); an item outside the
 * Coverage period, without a fee, or in another currency gets an error and no benefit (outcome `partial`, or `error`
 * when no item is payable). The patient's share comes from Coverage.costToBeneficiary (billing-cost-share.ts).
 */
import type { Queryable } from '../db/db.js';
import { parseDateRange } from '../fhir/datetime.js';
import type { Resource } from '../fhir/types.js';
import { localId } from './amend.js';
import { type CostShare, costShareOf } from './billing-cost-share.js';
import { type CodeableConcept, type Money, findFee, fromUnits, periodCovers, toUnits } from './billing-fee-schedule.js';

export const ADJUDICATION = 'http://terminology.hl7.org/CodeSystem/adjudication';
/** Our categories where R4's example code system has none: the patient's share of an item. */
export const HEARTH_ADJUDICATION = 'http://hearth.dev/fhir/CodeSystem/adjudication';
export const ADJUDICATION_ERROR = 'http://hearth.dev/fhir/CodeSystem/adjudication-error';

interface Period { start?: string; end?: string }
interface Item {
  sequence?: number; productOrService?: CodeableConcept; servicedDate?: string; servicedPeriod?: Period;
  quantity?: { value?: number }; unitPrice?: Money; factor?: number; net?: Money;
}
interface Failure { itemSequence?: number; code: string; text: string }
interface Line { sequence: number; units: Record<string, number> }

const category = (code: string) => code === 'patient-share'
  ? { coding: [{ system: HEARTH_ADJUDICATION, code, display: 'Patient share' }] }
  : { coding: [{ system: ADJUDICATION, code }] };

/** The Coverage the claim is adjudicated against: the focal insurance, else the first. */
export function coverageReference(claim: Resource): string | undefined {
  const insurance = (claim.insurance ?? []) as { focal?: boolean; sequence?: number; coverage?: { reference?: string } }[];
  return (insurance.find((i) => i.focal) ?? insurance[0])?.coverage?.reference;
}

function claimFailures(claim: Resource, coverageRef: string | undefined, coverage: Resource | undefined): Failure[] {
  if (!coverageRef) return [{ code: 'no-coverage', text: 'The Claim names no Coverage by reference (Claim.insurance.coverage.reference)' }];
  if (!coverage) return [{ code: 'coverage-not-found', text: `${coverageRef} was not found` }];
  const failures: Failure[] = [];
  if (coverage.status !== 'active') {
    failures.push({ code: 'coverage-inactive', text: `${coverageRef} is ${String(coverage.status)}, not active` });
  }
  const beneficiary = (coverage.beneficiary as { reference?: string } | undefined)?.reference;
  const patient = (claim.patient as { reference?: string } | undefined)?.reference;
  if (beneficiary && patient && localId(beneficiary, 'Patient') !== localId(patient, 'Patient')) {
    failures.push({ code: 'coverage-beneficiary', text: `${coverageRef} covers ${beneficiary}, not ${patient}` });
  }
  const insurer = (claim.insurer as { reference?: string } | undefined)?.reference;
  const payors = ((coverage.payor ?? []) as { reference?: string }[]).map((p) => p.reference);
  if (insurer && !payors.includes(insurer)) {
    failures.push({ code: 'coverage-payor', text: `${coverageRef} is paid by ${payors.join(', ') || 'no one'}, not the Claim's insurer ${insurer}` });
  }
  return failures;
}

/** The dates of service of an item: its own, else the claim's billable period, else the claim's creation. */
function serviceDates(claim: Resource, item: Item): { from: Date; to: Date } | undefined {
  const period = item.servicedPeriod ?? (item.servicedDate ? undefined : claim.billablePeriod as Period | undefined);
  const start = item.servicedDate ?? period?.start ?? period?.end ?? claim.created as string | undefined;
  const end = item.servicedDate ?? period?.end ?? start;
  if (!start || !end) return undefined;
  try {
    return { from: parseDateRange(start, 'start').lo, to: new Date(parseDateRange(end, 'end').hi.getTime() - 1) };
  } catch {
    return undefined;
  }
}

/** What the provider asks for the item: net, else unit price × quantity × factor. */
function submittedOf(item: Item): Money | undefined {
  if (typeof item.net?.value === 'number') return item.net;
  if (typeof item.unitPrice?.value !== 'number') return undefined;
  const units = toUnits(item.unitPrice.value) * (item.quantity?.value ?? 1) * (item.factor ?? 1);
  return { ...item.unitPrice, value: fromUnits(Math.round(units)) };
}

const money = (units: number, currency: string | undefined): Money => ({ value: fromUnits(units), ...(currency ? { currency } : {}) });

/** Adjudicates one item, or says why it is not payable; the first payable item sets the claim's currency. */
async function adjudicateItem(tx: Queryable, schema: string, claim: Resource, coverage: Resource, item: Item,
  share: CostShare, claimCurrency: { code?: string }): Promise<Line | Failure> {
  const sequence = item.sequence ?? 0;
  const fail = (code: string, text: string): Failure => ({ itemSequence: sequence, code, text });
  const when = serviceDates(claim, item);
  if (!when) return fail('no-service-date', `Item ${sequence} has no date of service (servicedDate, servicedPeriod, billablePeriod)`);
  const period = coverage.period as Period | undefined;
  if (!periodCovers(period, when.from) || !periodCovers(period, when.to)) {
    return fail('coverage-period', `Item ${sequence}'s date of service is outside the Coverage period`);
  }
  const fee = await findFee(tx, schema, item.productOrService, when.from);
  const code = item.productOrService?.coding?.[0];
  if (!fee) return fail('no-fee-schedule', `Item ${sequence}: the fee schedule has no active price for ${code ? `${code.system ?? ''}|${code.code ?? ''}` : 'its productOrService'}`);
  const submitted = submittedOf(item);
  const currency = fee.amount.currency ?? submitted?.currency;
  if (submitted?.currency && currency && submitted.currency !== currency) {
    return fail('currency', `Item ${sequence} is submitted in ${submitted.currency}, its fee is in ${currency}`);
  }
  if (currency && claimCurrency.code && currency !== claimCurrency.code) {
    return fail('currency', `Item ${sequence} is in ${currency}, the claim's other items in ${claimCurrency.code}`);
  }
  claimCurrency.code ??= currency;
  const feeUnits = Math.round(toUnits(fee.amount.value) * (item.quantity?.value ?? 1));
  const eligible = submitted ? Math.min(toUnits(submitted.value!), feeUnits) : feeUnits;
  const { copay, coinsurance } = share.take(eligible);
  const units: Record<string, number> = { ...(submitted ? { submitted: toUnits(submitted.value!) } : {}), eligible,
    ...(copay > 0 ? { copay } : {}), 'patient-share': copay + coinsurance, benefit: eligible - copay - coinsurance };
  return { sequence, units };
}

/** submitted, eligible, eligpercent (the insurer's percentage under coinsurance), copay, patient-share, benefit. */
function itemOf(line: Line, currency: string | undefined, insurerPercent: number | undefined) {
  const adjudication: Record<string, unknown>[] = [];
  for (const [code, units] of Object.entries(line.units)) {
    adjudication.push({ category: category(code), amount: money(units, currency) });
    if (code === 'eligible' && insurerPercent !== undefined) adjudication.push({ category: category('eligpercent'), value: insurerPercent });
  }
  return { itemSequence: line.sequence, adjudication };
}

const errorOf = (f: Failure) => ({ ...(f.itemSequence !== undefined ? { itemSequence: f.itemSequence } : {}),
  code: { coding: [{ system: ADJUDICATION_ERROR, code: f.code }], text: f.text } });

/** The ClaimResponse to the stored Claim `claimId`; `coverage` is the one coverageReference() names, if found. */
export async function adjudicate(tx: Queryable, schema: string, claim: Resource, claimId: string,
  coverage: Resource | undefined, now: Date): Promise<Resource> {
  const coverageRef = coverageReference(claim);
  const failures = claimFailures(claim, coverageRef, coverage);
  const lines: Line[] = [];
  const share = costShareOf(coverage, claim);
  const claimCurrency: { code?: string } = {};
  if (failures.length === 0) {
    for (const item of (claim.item ?? []) as Item[]) {
      const result = await adjudicateItem(tx, schema, claim, coverage!, item, share, claimCurrency);
      if ('units' in result) lines.push(result);
      else failures.push(result);
    }
  }
  const items = (claim.item ?? []) as Item[];
  const outcome = lines.length === 0 && (failures.length > 0 || items.length > 0) ? 'error'
    : failures.length > 0 ? 'partial' : 'complete';
  const currency = claimCurrency.code;
  const totals = new Map<string, number>();
  for (const l of lines) for (const [code, units] of Object.entries(l.units)) totals.set(code, (totals.get(code) ?? 0) + units);
  const benefit = totals.get('benefit') ?? 0;
  const payor = ((coverage?.payor ?? []) as { reference?: string }[]).find((p) => localId(p.reference, 'Organization'));
  return {
    resourceType: 'ClaimResponse', status: 'active',
    ...(claim.type ? { type: claim.type } : {}), ...(claim.subType ? { subType: claim.subType } : {}),
    use: claim.use ?? 'claim', ...(claim.patient ? { patient: claim.patient } : {}), created: now.toISOString(),
    insurer: claim.insurer ?? payor ?? { display: 'Unknown insurer' },
    ...(claim.provider ? { requestor: claim.provider } : {}), request: { reference: `Claim/${claimId}` }, outcome,
    disposition: outcome === 'complete' ? 'Claim adjudicated in full'
      : outcome === 'partial' ? 'Claim adjudicated in part: see error' : `Claim not adjudicated: ${failures[0]?.text ?? 'no items'}`,
    ...(lines.length ? { item: lines.map((l) => itemOf(l, currency, share.insurerPercent)) } : {}),
    ...(totals.size ? { total: [...totals].map(([code, units]) => ({ category: category(code), amount: money(units, currency) })) } : {}),
    ...(lines.length ? { payment: { type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/ex-paymenttype',
      code: outcome === 'complete' ? 'complete' : 'partial' }] }, amount: money(benefit, currency) } } : {}),
    ...(failures.length ? { error: failures.map(errorOf) } : {}),
  };
}
