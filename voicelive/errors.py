"""Error hierarchy. Every user-facing failure is a :class:`VoiceliveError` whose message names the
problem and the fix; the CLI prints it on one line and exits non-zero."""


class VoiceliveError(Exception):
    """Root of all VoiceLive errors."""

    exit_code = 2


class AudioError(VoiceliveError, ValueError):
    """Audio that cannot be used: unreadable, empty, silent, non-finite, wrong shape."""


class AudioFileError(AudioError, OSError):
    """A file that is missing or cannot be decoded."""


class DeviceError(VoiceliveError, OSError):
    """No usable input device, device busy or lost, unsupported sample rate."""


class ModelError(VoiceliveError):
    """Model files missing, corrupt or incompatible with this version's features."""


class ModelMissingError(ModelError, FileNotFoundError):
    """Pretrained weights or an enrolled model that are not on disk yet."""


class NotEnrolledError(ModelError):
    """Scoring asked of a model with no enrolled speakers."""


class UnknownSpeakerError(VoiceliveError, KeyError):
    """A speaker name that is not in the roster."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class StoreError(VoiceliveError):
    """The speaker database or an archive is corrupt or incompatible."""


class ConfigError(VoiceliveError, ValueError):
    """An option value out of range or of the wrong kind."""
