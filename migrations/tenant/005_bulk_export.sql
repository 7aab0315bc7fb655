-- Bulk Data export (issue #7): the patients a Patient- or Group-level export covers, fixed once when its job starts
-- (membership as of transactionTime), so that a resumed job selects exactly the same compartments. Rows are removed
-- when the job ends. live = the Patient existed, undeleted, at transactionTime (its compartment is exported); a
-- Group member deleted by then is kept with live = false so that, with _since, its deletion can be reported.
CREATE TABLE export_patient (
  job  uuid NOT NULL,
  id   text NOT NULL,
  live boolean NOT NULL,
  PRIMARY KEY (job, id)
);
