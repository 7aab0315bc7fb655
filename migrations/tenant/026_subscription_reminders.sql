-- Appointment reminders (issue #20 §2, topic appointment-reminder): which booked Appointment (at which start) each
-- subscription was reminded of, so that every node's periodic scan enqueues one event per appointment and start.
CREATE TABLE subscription_reminder (
  sub_id          text NOT NULL,
  appointment_id  text NOT NULL,
  start           timestamptz NOT NULL,
  at              timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (sub_id, appointment_id, start)
);

-- Delivered events are kept for $events for HEARTH_SUBSCRIPTION_EVENT_DAYS, then removed by the delivery loop.
CREATE INDEX subscription_event_delivered ON subscription_event (delivered_at) WHERE delivered_at IS NOT NULL;
