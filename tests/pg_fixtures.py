"""The suite's private PostgreSQL server: scram-sha-256 over TLS, started once per run."""
