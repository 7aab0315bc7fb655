/** Code tables for the generator: LOINC vitals and labs, SNOMED CT, RxNorm, CVX, names and places (Synthea-like). */

export const LOINC = 'http://loinc.org';
export const SNOMED = 'http://snomed.info/sct';
export const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
export const CVX = 'http://hl7.org/fhir/sid/cvx';
export const UCUM = 'http://unitsofmeasure.org';
export const MRN_SYSTEM = 'http://hospital.smarthealthit.org';
export const SYNTHEA_SYSTEM = 'https://github.com/synthetichealth/synthea';

export interface Measure { code: string; display: string; unit: string; mean: number; sd: number; decimals: number }
export interface Lab extends Measure { low: number; high: number }
export interface Code { code: string; display: string }
export interface ConditionCode extends Code { chronic: boolean }

const m = (code: string, display: string, unit: string, mean: number, sd: number, decimals = 1): Measure =>
  ({ code, display, unit, mean, sd, decimals });
const lab = (code: string, display: string, unit: string, mean: number, sd: number, low: number, high: number): Lab =>
  ({ ...m(code, display, unit, mean, sd, 2), low, high });

export const VITALS: Measure[] = [
  m('8302-2', 'Body Height', 'cm', 170, 10),
  m('29463-7', 'Body Weight', 'kg', 76, 15),
  m('39156-5', 'Body Mass Index', 'kg/m2', 26, 4),
  m('8867-4', 'Heart rate', '/min', 74, 10, 0),
  m('9279-1', 'Respiratory rate', '/min', 15, 2, 0),
  m('8310-5', 'Body temperature', 'Cel', 37, 0.4),
  m('59408-5', 'Oxygen saturation in Arterial blood by Pulse oximetry', '%', 97, 1.5, 0),
];

export const BLOOD_PRESSURE = {
  panel: { code: '85354-9', display: 'Blood pressure panel with all children optional' },
  systolic: m('8480-6', 'Systolic Blood Pressure', 'mm[Hg]', 122, 14, 0),
  diastolic: m('8462-4', 'Diastolic Blood Pressure', 'mm[Hg]', 79, 9, 0),
};

export const LABS: Lab[] = [
  lab('2339-0', 'Glucose', 'mg/dL', 96, 18, 70, 99),
  lab('2160-0', 'Creatinine', 'mg/dL', 1.0, 0.2, 0.6, 1.3),
  lab('2951-2', 'Sodium', 'mmol/L', 140, 3, 136, 145),
  lab('2823-3', 'Potassium', 'mmol/L', 4.2, 0.4, 3.5, 5.1),
  lab('2075-0', 'Chloride', 'mmol/L', 102, 3, 98, 107),
  lab('2028-9', 'Carbon dioxide, total', 'mmol/L', 26, 2, 23, 29),
  lab('3094-0', 'Urea nitrogen', 'mg/dL', 14, 4, 7, 20),
  lab('17861-6', 'Calcium', 'mg/dL', 9.5, 0.4, 8.6, 10.3),
  lab('4548-4', 'Hemoglobin A1c/Hemoglobin.total in Blood', '%', 5.8, 0.8, 4, 5.6),
  lab('2093-3', 'Cholesterol [Mass/volume] in Serum or Plasma', 'mg/dL', 190, 30, 125, 200),
  lab('2571-8', 'Triglycerides', 'mg/dL', 140, 40, 35, 150),
  lab('18262-6', 'Cholesterol in LDL [Mass/volume] by Direct assay', 'mg/dL', 110, 30, 40, 100),
  lab('2085-9', 'Cholesterol in HDL [Mass/volume]', 'mg/dL', 55, 12, 40, 90),
  lab('718-7', 'Hemoglobin [Mass/volume] in Blood', 'g/dL', 14, 1.5, 12, 17.5),
  lab('6690-2', 'Leukocytes [#/volume] in Blood by Automated count', '10*3/uL', 7, 2, 4.5, 11),
];

const cond = (code: string, display: string, chronic: boolean): ConditionCode => ({ code, display, chronic });
export const CONDITIONS: ConditionCode[] = [
  cond('44054006', 'Diabetes mellitus type 2 (disorder)', true),
  cond('38341003', 'Hypertension', true),
  cond('55822004', 'Hyperlipidemia', true),
  cond('15777000', 'Prediabetes', true),
  cond('233678006', 'Childhood asthma', true),
  cond('162864005', 'Body mass index 30+ - obesity (finding)', true),
  cond('195662009', 'Acute viral pharyngitis (disorder)', false),
  cond('10509002', 'Acute bronchitis (disorder)', false),
  cond('444814009', 'Viral sinusitis (disorder)', false),
  cond('65363002', 'Otitis media', false),
  cond('271737000', 'Anemia (disorder)', false),
  cond('307731004', 'Injury of tendon of the rotator cuff of shoulder', false),
];

const c = (code: string, display: string): Code => ({ code, display });
export const PROCEDURES: Code[] = [
  c('430193006', 'Medication Reconciliation (procedure)'), c('117015009', 'Throat culture (procedure)'),
  c('73761001', 'Colonoscopy'), c('23426006', 'Measurement of respiratory function (procedure)'),
  c('76601001', 'Intramuscular injection'), c('710824005', 'Assessment of health and social care needs (procedure)'),
  c('171207006', 'Depression screening (procedure)'), c('399208008', 'Plain chest X-ray (procedure)'),
];

export const MEDICATIONS: Code[] = [
  c('316049', 'Hydrochlorothiazide 25 MG'), c('860975', '24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet'),
  c('314076', 'lisinopril 10 MG Oral Tablet'), c('308136', 'amLODIPine 2.5 MG Oral Tablet'),
  c('313782', 'Acetaminophen 325 MG Oral Tablet'), c('198405', 'Ibuprofen 100 MG Oral Tablet'),
  c('562251', 'Amoxicillin 250 MG / Clavulanate 125 MG Oral Tablet'), c('259255', 'atorvastatin 80 MG Oral Tablet'),
  c('895994', '120 ACTUAT Fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler'),
];

export const VACCINES: Code[] = [
  c('140', 'Influenza, seasonal, injectable, preservative free'), c('08', 'Hep B, adolescent or pediatric'),
  c('20', 'DTaP'), c('10', 'IPV'), c('133', 'Pneumococcal conjugate PCV 13'), c('113', 'Td (adult) preservative free'),
  c('115', 'Tdap'), c('62', 'HPV, quadrivalent'), c('207', 'SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, 100 mcg/0.5mL dose'),
];

export const ENCOUNTER_TYPES: (Code & { cls: 'AMB' | 'EMER' | 'IMP' })[] = [
  { ...c('185349003', 'Encounter for check up (procedure)'), cls: 'AMB' },
  { ...c('162673000', 'General examination of patient (procedure)'), cls: 'AMB' },
  { ...c('185345009', 'Encounter for symptom'), cls: 'AMB' },
  { ...c('410620009', 'Well child visit (procedure)'), cls: 'AMB' },
  { ...c('698314001', 'Consultation for treatment'), cls: 'AMB' },
  { ...c('50849002', 'Emergency room admission (procedure)'), cls: 'EMER' },
  { ...c('183452005', 'Emergency hospital admission (procedure)'), cls: 'IMP' },
];

export const GIVEN_FEMALE = ['María', 'Zoë', 'Ana', 'Chloé', 'Ingrid', 'Małgorzata', 'Siobhán', 'Aiko', 'Fatima',
  'Emily', 'Olivia', 'Grace', 'Hannah', 'Marta', 'Renée', 'Björk', 'Linh', 'Priya', 'Sofía', 'Noémie'];
export const GIVEN_MALE = ['José', 'Łukasz', 'François', 'Jürgen', 'Søren', 'Mateo', 'Hiroshi', 'Ahmed', 'Liam',
  'Noah', 'James', 'Ethan', 'Marco', 'André', 'Dmitri', 'Kwame', 'Thanh', 'Raúl', 'Oskar', 'Seán'];
export const FAMILY = ['Müller', 'García', 'Nguyễn', 'Søderberg', "O'Brien", 'Kowalski', 'Dubois', 'Smith', 'Johnson',
  'Mejía', 'Wiegand', 'Dach', 'Schröder', 'Álvarez', 'Østergaard', 'Marín', 'Yılmaz', 'Brown', 'Martinez', 'Davis',
  'Hernández', 'Lefèvre', 'Novák', 'Kim', 'Patel', 'Okafor', 'Rossi', 'Jankowski', 'Takahashi', 'Wilson'];
export const PREFIX = { female: ['Mrs.', 'Ms.'], male: ['Mr.'] };

export const CITIES: { city: string; postalCode: string }[] = [
  { city: 'Boston', postalCode: '02108' }, { city: 'Worcester', postalCode: '01601' },
  { city: 'Springfield', postalCode: '01103' }, { city: 'Cambridge', postalCode: '02138' },
  { city: 'Lowell', postalCode: '01852' }, { city: 'Brockton', postalCode: '02301' },
  { city: 'Quincy', postalCode: '02169' }, { city: 'New Bedford', postalCode: '02740' },
  { city: 'Newton', postalCode: '02458' }, { city: 'Somerville', postalCode: '02143' },
];
export const STREETS = ['Main St', 'Elm St', 'Beacon St', 'Washington St', 'Maple Ave', 'Chestnut Hill Rd',
  'Harbor View Dr', 'Oak Ln', 'Pleasant St', 'Commonwealth Ave'];

export const PAYERS = ['Medicare', 'Medicaid', 'Blue Cross Blue Shield', 'Aetna', 'UnitedHealthcare', 'Humana', 'Cigna'];
export const HOSPITAL_WORDS = ['General', 'Memorial', 'Community', 'Saint Anne', 'Riverside', 'Beth Israel', 'Lahey'];
