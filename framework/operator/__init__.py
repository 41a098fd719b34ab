"""The operator's code: the `smrotate` CLI, the demo and the local driver.

The CLI: `cli` wires the command modules together (`cmd_rotate`, `cmd_cancel`, `cmd_status`,
`cmd_run`, `cmd_fleet`, `cmd_demo`: each owns its arguments and its output; their contract and
shared argument types are in `command`). The work, one module per concern: `connection` (AWS
client and its settings), `exit_codes` (the exit statuses, their one table, and how AWS errors
map to them), `health` (the diagnosis of one secret), `status`, `fleet`, `rotate` and `watch`,
`cleanup` (cancel and repair), `local_run` and `driver` (the local driver), `loading` (rotators
by name) and `output` (tables, JSON, times). None of it is imported by a Lambda handler or by
the engine, and nothing here prints a secret value.
"""
