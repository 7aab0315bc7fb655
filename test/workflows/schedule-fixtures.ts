/** Working patterns shared by the scheduling tests (test/workflows/*.test.ts): none depends on today's date. */
export const DAY = 86_400_000;

/** The first Monday (00:00 UTC) at least two weeks ahead. */
export function nextMonday(): number {
  let d = Math.floor(Date.now() / DAY) * DAY + 14 * DAY;
  while (new Date(d).getUTCDay() !== 1) d += DAY;
  return d;
}

export const AVAILABILITY = 'http://hearth.dev/fhir/StructureDefinition/availability';

/** Weekday mornings 09:00–12:00 (in the Schedule's time zone), 30-minute slots: the availability extension. */
export const weekdayMornings = {
  url: AVAILABILITY, extension: [
    { url: 'availableTime', extension: [...['mon', 'tue', 'wed', 'thu', 'fri'].map((d) => ({ url: 'daysOfWeek', valueCode: d })),
      { url: 'availableStartTime', valueTime: '09:00:00' }, { url: 'availableEndTime', valueTime: '12:00:00' }] },
    { url: 'slotMinutes', valuePositiveInt: 30 },
  ],
};

/** Kolkata is UTC+05:30 all year (no daylight saving): 09:00 there is 03:30 UTC whatever the date. */
export const KOLKATA = { url: 'http://hl7.org/fhir/StructureDefinition/timezone', valueCode: 'Asia/Kolkata' };
