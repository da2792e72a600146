"""What supervisors see beyond the live queue: the audit log, queue samples and charts, reports."""
