-- Appointment reminders (issue #20 §2, topic appointment-reminder): which booked Appointment (at which start) each
-- subscription was reminded of, so that every node's periodic scan enqueues one event per appointment and start.
CREATE TABLE subscription_reminder (
  sub_id          text NOT NULL,
  appointment_id  text NOT NULL,
  start           timestamptz NOT NULL,
  at              timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (sub_id, appointment_id, start)
);
