-- Roles as access policies (issue #16 §1): a role is a ceiling of SMART v2 user/ scopes (with query restrictions)
-- and, optionally, a relationship rule confining it to the patients the user is related to. A user holds roles
-- (NULL: an unmanaged user, limited by the app's scopes alone). Changes reach every node's grant cache at once.
CREATE TABLE auth_role (
  name         text PRIMARY KEY,
  description  text NOT NULL DEFAULT '',
  scopes       text NOT NULL,
  relationship text[],
  break_glass  boolean NOT NULL DEFAULT false,
  updated_at   timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE auth_user ADD COLUMN roles text[];

CREATE TRIGGER auth_role_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON auth_role
  FOR EACH STATEMENT EXECUTE FUNCTION auth_grant_notify();
CREATE TRIGGER auth_user_roles_notify AFTER UPDATE OF roles OR DELETE ON auth_user
  FOR EACH STATEMENT EXECUTE FUNCTION auth_grant_notify();

-- The default roles (README "Access model"); a tenant changes them through the admin API or `hearth role`.
INSERT INTO auth_role (name, description, scopes, relationship) VALUES
  ('doctor', 'Physicians: read and write the clinical record of their own patients',
   'user/*.crus', ARRAY['care-team', 'encounter', 'appointment', 'episode-of-care', 'general-practitioner', 'organization']),
  ('nurse', 'Nurses: read the record of their own patients, chart observations and administrations',
   'user/*.rs user/Observation.cu user/MedicationAdministration.cu user/Encounter.u user/CarePlan.u user/Task.u user/Procedure.cu',
   ARRAY['care-team', 'encounter', 'appointment', 'episode-of-care', 'general-practitioner', 'organization']),
  ('receptionist', 'Front desk: register patients, book appointments, keep coverage; no clinical data',
   'user/Patient.crus user/RelatedPerson.crus user/Coverage.crus user/Appointment.crus user/AppointmentResponse.crus user/Slot.rs user/Schedule.rs user/Practitioner.rs user/PractitionerRole.rs user/Organization.rs user/Location.rs user/HealthcareService.rs user/Encounter.rs',
   NULL),
  ('lab', 'Laboratory: receive orders, record specimens, results and reports',
   'user/ServiceRequest.rs user/Task.rus user/Specimen.crus user/Observation.crus user/DiagnosticReport.crus user/Patient.rs user/Practitioner.rs user/Organization.rs',
   NULL),
  ('pharmacist', 'Pharmacy: verify and dispense prescriptions',
   'user/MedicationRequest.rus user/MedicationDispense.crus user/Medication.rs user/AllergyIntolerance.rs user/Condition.rs user/Observation.rs user/Patient.rs user/Practitioner.rs user/Organization.rs',
   NULL),
  ('billing', 'Billing: charges, invoices, claims and payments; no clinical data',
   'user/Patient.rs user/Coverage.crus user/Account.crus user/ChargeItem.crus user/ChargeItemDefinition.rs user/Invoice.crus user/Claim.crus user/ClaimResponse.rs user/ExplanationOfBenefit.rs user/PaymentNotice.crus user/PaymentReconciliation.crus user/Encounter.rs user/Organization.rs user/Practitioner.rs',
   NULL),
  ('auditor', 'Privacy officers and auditors: the audit trail, consents and provenance',
   'user/AuditEvent.rs user/Consent.rs user/Provenance.rs', NULL),
  ('admin', 'Tenant administrators: every record of the tenant (the audit trail needs the auditor role)',
   'user/*.cruds', NULL),
  ('patient', 'Patients (a Patient fhirUser): their own record, their appointments and answers',
   'user/*.rs user/Appointment.cu user/QuestionnaireResponse.cu user/Consent.cu', NULL);
