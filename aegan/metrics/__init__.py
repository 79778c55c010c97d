"""Metrics as pure functions returning plain numbers; each module names the reference it follows."""

from aegan.metrics.modes import mode_stats

__all__ = ["mode_stats"]
