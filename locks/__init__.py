"""smrotate.sam.locks: the locks (`make lock`), shipped as data for `smrotate template`."""
