-- What each active Appointment takes (issue #18 §3; src/workflows/scheduling.ts is the only writer): its Slots, and
-- its practitioners', practitioner roles' and locations' time. One row per (appointment, target); a $hold's rows carry
-- the hold's expiry, after which they no longer count. Rebuilt from the Appointments by $reindex.
CREATE TABLE booking (
  appointment_id text NOT NULL,
  target         text NOT NULL,          -- 'Slot/1', 'Practitioner/2', 'PractitionerRole/3', 'Location/4'
  start_at       timestamptz,
  end_at         timestamptz,
  hold_until     timestamptz,
  PRIMARY KEY (appointment_id, target)
);
CREATE INDEX booking_target ON booking (target, start_at);
