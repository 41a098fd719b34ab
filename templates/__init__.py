"""smrotate.sam: the SAM templates, their make targets (sam.mk) and the locks, as data.

`smrotate template ENGINE DIR` (smrotate.operator.sam_project) writes them, with the engine
and its rotator, into a project that `sam build` builds without a checkout.
"""
