"""The suite's private MariaDB server: passwords over TLS, started once per run."""
