"""Metrics as pure functions returning plain numbers; each module names the reference it follows."""

from aegan.metrics.birthday import birthday_support, birthday_threshold
from aegan.metrics.classifier_score import classifier_score
from aegan.metrics.diversity import msssim, msssim_diversity
from aegan.metrics.fid import frechet_distance, frechet_distance_from_moments, kid
from aegan.metrics.modes import histogram_stats, mode_stats
from aegan.metrics.ndb import ndb
from aegan.metrics.prdc import prdc, precision_recall

__all__ = ["birthday_support", "birthday_threshold", "classifier_score", "frechet_distance",
           "frechet_distance_from_moments", "histogram_stats", "kid", "mode_stats", "msssim", "msssim_diversity", "ndb",
           "prdc", "precision_recall"]
