"""The one exception users see: bad input, reported by the CLI as one line with exit code 2."""


class AeganError(Exception):
    """Bad input or state the user can fix. The message says what is wrong and what to do."""


class DataError(AeganError):
    """A data spec, file or array that aegan cannot use."""


class ConfigError(AeganError):
    """An unknown or ill-typed configuration field, preset or override."""


class CheckpointError(AeganError):
    """A run folder or checkpoint that is missing, corrupt or not made by aegan."""
