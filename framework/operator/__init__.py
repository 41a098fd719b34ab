"""What the `smrotate` CLI does, apart from parsing arguments (framework/operator/cli.py).

One module per concern: `connection` (AWS client and its settings), `exit_codes` (the documented
exit statuses and how AWS errors map to them), `health` (the diagnosis of one secret),
`status`, `fleet`, `rotate` and `watch`, `cleanup` (cancel and repair), `local_run` (the local
driver), `loading` (rotators by name) and `output` (tables, JSON, times). None of it is imported by
a Lambda handler, and nothing here prints a secret value.
"""
