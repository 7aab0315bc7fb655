-- Consent enforcement (issue #16 §3). A tenant chooses what holds for a patient's record where no Consent decides:
-- opt-out (the default: accessible unless a Consent denies) or opt-in (refused unless a Consent permits). A role
-- names the purposes of use (v3 ActReason) its holders act under, which Consent provisions with a purpose match.
ALTER TABLE auth_setting ADD COLUMN consent_default text NOT NULL DEFAULT 'opt-out' CHECK (consent_default IN ('opt-in', 'opt-out'));
ALTER TABLE auth_role ADD COLUMN purpose text[] NOT NULL DEFAULT '{TREAT}';
UPDATE auth_role SET purpose = '{HPAYMT}' WHERE name = 'billing';
UPDATE auth_role SET purpose = '{HOPERAT}' WHERE name IN ('receptionist', 'admin', 'auditor');
UPDATE auth_role SET purpose = '{PATRQT}' WHERE name = 'patient';
-- A changed default reaches every node's caches at once, as role changes do.
CREATE TRIGGER auth_setting_notify AFTER UPDATE ON auth_setting
  FOR EACH STATEMENT EXECUTE FUNCTION auth_grant_notify();
