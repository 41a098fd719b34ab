"""`smrotate.cdk`: the shipped rotators deployed with the AWS CDK (the `cdk` extra).

`SmrotateRotation` (smrotate.cdk.construct) builds what the engine's SAM template builds, read
from that template (smrotate.cdk.template, which imports nothing of the CDK: the tests use it to
evaluate the SAM templates too). Importing this package is cheap: the construct, and with it
aws-cdk-lib, is imported on first use of `SmrotateRotation` or `ENGINES`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smrotate.cdk.construct import ENGINES, SmrotateRotation

__all__ = ["ENGINES", "SmrotateRotation"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from smrotate.cdk import construct

        return getattr(construct, name)
    raise AttributeError(f"module 'smrotate.cdk' has no attribute {name!r}")
