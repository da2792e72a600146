"""The CRM: customers, tickets, their history and SLA clocks."""
