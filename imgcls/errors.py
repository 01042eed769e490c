"""The error types imgcls raises for problems a user can fix.

The CLI prints these as a one-paragraph message (no traceback unless
``--debug``); anything else escaping is a bug in imgcls.
"""


class ImgclsError(Exception):
    """Base class: a problem with the user's input, with a message saying how to fix it."""


class ConfigError(ImgclsError, ValueError):
    """A config file, key or value is wrong."""


class RegistryError(ImgclsError, KeyError):
    """A ``type`` is not registered, or a name is registered twice."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ''


class BuildError(ImgclsError):
    """A registered class raised while being built from its config."""


class DataError(ImgclsError):
    """A dataset, annotation file or image is missing or malformed."""


class CheckpointError(ImgclsError):
    """A checkpoint cannot be read or does not fit the model."""
