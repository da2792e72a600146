"""Staff accounts: passwords, sessions, roles, CSRF and the login rate limit."""
