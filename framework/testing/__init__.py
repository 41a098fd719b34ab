"""Tools for testing rotators on one machine: moto helpers, a test CA, private database servers
and (later) the conformance kit. Nothing here is imported by a Lambda handler."""
