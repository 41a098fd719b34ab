"""moto server on loopback, started by the suite, for tests that talk HTTP like the CLI."""
