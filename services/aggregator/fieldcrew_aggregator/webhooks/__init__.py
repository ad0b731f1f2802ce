"""Webhooks: admins register URLs; a worker reading the log as a projection sends each
matching event there, signed per Standard Webhooks, retried with backoff, dead-lettered after a
limit, every attempt recorded (docs/adr/0043)."""
