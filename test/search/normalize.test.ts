/** normalizeText's printable-ASCII path gives what the general Unicode path gives (the index and the query side must agree). */
import t from 'tap';
import { normalizeText, normalizeUnicode } from '../../src/search/normalize.js';

const printable = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i));

t.test('every printable ASCII character, alone and between words, normalises as the Unicode path does', async (t) => {
  for (const c of printable) {
    for (const s of [c, `a${c}b`, `  X${c}${c} y `, `${c}Z`]) t.equal(normalizeText(s), normalizeUnicode(s), JSON.stringify(s));
  }
});

t.test('names, codes and displays as indexed', async (t) => {
  const samples = ['Blood Pressure', 'Body mass index (BMI) [Ratio]', "O'Brien-Smith", '  many   spaces  ', 'Müller', 'ÅSA\tline\nbreak',
    'e\u0301clair', 'Ǆ', '', '---', 'Hemoglobin A1c/Hemoglobin.total in Blood', '$100 ~ 50% off'];
  for (const s of samples) t.equal(normalizeText(s), normalizeUnicode(s), JSON.stringify(s));
  t.equal(normalizeText('Body mass index (BMI) [Ratio]'), 'body mass index bmi ratio');
  t.equal(normalizeText('Müller'), 'muller');
});
