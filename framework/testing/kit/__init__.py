"""The conformance kit: proves a rotator safe under what Secrets Manager does to it.

Subclass `ConformanceSuite` in a test module, define a `subject` fixture returning a `Subject`
(how to make a fresh secret, how to check that a secret's credentials log in), and pytest runs
every case: full rotations, steps run twice, crash injection at each Secrets Manager write and
each target write, target failures, racing rotations, cancel and cleanup, and a leak scan of
everything the rotator logged, raised or printed. See docs/kit.md.
"""

from smrotate.testing.kit.cases import ConformanceFailure
from smrotate.testing.kit.subject import Subject
from smrotate.testing.kit.suite import ConformanceSuite

__all__ = ["ConformanceFailure", "ConformanceSuite", "Subject"]
