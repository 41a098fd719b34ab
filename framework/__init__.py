"""smrotate's engine: the rotation protocol over Secrets Manager; it knows no database.

Import what you need from its modules (`smrotate.rotator`, `smrotate.strategies`, ...): this
package imports nothing itself, so a Lambda step pays only for the modules it uses.
"""

__version__ = "0.1.0"
