"""vbranch server: HTTP, CRM, database, auth and the command line."""
