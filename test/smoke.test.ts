import t from 'tap';
import { FhirError } from '../src/errors.js';
t.test('FhirError carries status and issue', async (t) => {
  const e = new FhirError(404, 'not-found', 'x');
  t.equal(e.status, 404);
});
