"""The shipped rotators, one module per engine; each ends with its `lambda_handler`."""
