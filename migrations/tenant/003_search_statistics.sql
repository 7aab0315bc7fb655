-- Extended statistics so the planner sees how type, param and value correlate in the index tables: without them it
-- underestimates common codes and drives a patient's lab search from the LOINC code instead of the patient.
CREATE STATISTICS idx_token_code_stats (mcv, dependencies) ON type, param, code_ci, system FROM idx_token;
CREATE STATISTICS idx_token_system_stats (mcv, dependencies) ON type, param, system FROM idx_token;
CREATE STATISTICS idx_reference_stats (mcv, dependencies) ON type, param, ref_type, ref_id FROM idx_reference;
