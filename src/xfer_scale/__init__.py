"""xfer-scale: intermediate-task scaling sweeps for zero-shot cross-lingual transfer."""

__version__ = "0.1.0"
