"""Audio input devices through PortAudio (python-sounddevice), with clear errors.

``sounddevice`` is imported lazily so that VoiceLive imports (and works on files) even where the
PortAudio library is missing; every PortAudio failure becomes a
:class:`~voicelive.errors.DeviceError` that says what happened and what to do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import ModuleType

from voicelive.errors import DeviceError

__all__ = [
    "InputDevice",
    "sounddevice_module",
    "list_input_devices",
    "default_input_device",
    "resolve_input_device",
    "rescan_devices",
    "device_error",
]

log = logging.getLogger(__name__)

# PortAudio PaErrorCode values we explain
PA_INVALID_SAMPLE_RATE = -9997
PA_INVALID_CHANNEL_COUNT = -9998
PA_INVALID_DEVICE = -9996
PA_DEVICE_UNAVAILABLE = -9985
PA_UNANTICIPATED_HOST_ERROR = -9999


def sounddevice_module() -> ModuleType:
    """Import python-sounddevice, or raise :class:`DeviceError` when PortAudio is missing."""
    try:
        import sounddevice
    except OSError as exc:  # the PortAudio shared library could not be loaded
        raise DeviceError(f"the PortAudio library is not available ({exc}); install it "
                          "(Debian/Ubuntu: `sudo apt install libportaudio2`) to use a microphone") from exc
    return sounddevice


@dataclass(frozen=True)
class InputDevice:
    """One capture device as PortAudio sees it."""

    index: int
    name: str
    hostapi: str
    max_input_channels: int
    default_samplerate: float
    is_default: bool = False

    def describe(self) -> str:
        return f"#{self.index} '{self.name}' ({self.hostapi})"


def rescan_devices() -> None:
    """Make PortAudio enumerate devices again (e.g. after plugging in a microphone or starting a
    sound server). Only call it while no stream is open."""
    sd = sounddevice_module()
    sd._terminate()  # sounddevice has no public re-scan; terminate + initialize is the documented way
    sd._initialize()


def _default_input_index(sd: ModuleType) -> int | None:
    try:
        idx = sd.default.device[0]
    except (TypeError, IndexError):
        idx = None
    if idx is not None and int(idx) >= 0:
        return int(idx)
    try:
        info = sd.query_devices(kind="input")
    except sd.PortAudioError:
        return None
    return int(info["index"]) if info and "index" in info else None


def list_input_devices() -> list[InputDevice]:
    """All devices with input channels, in PortAudio's order (the default one marked)."""
    sd = sounddevice_module()
    try:
        infos = sd.query_devices()
        apis = sd.query_hostapis()
    except sd.PortAudioError as exc:
        raise device_error(exc, None, "list audio devices") from exc
    default = _default_input_index(sd)
    out = []
    for info in infos:
        if int(info.get("max_input_channels", 0)) <= 0:
            continue
        idx = int(info["index"])
        api = apis[int(info["hostapi"])]["name"] if 0 <= int(info["hostapi"]) < len(apis) else "?"
        out.append(InputDevice(index=idx, name=str(info["name"]), hostapi=str(api),
                               max_input_channels=int(info["max_input_channels"]),
                               default_samplerate=float(info["default_samplerate"]),
                               is_default=(idx == default)))
    return out


def default_input_device() -> InputDevice | None:
    """The system's default input device (or the first one), None when there is none."""
    devices = list_input_devices()
    for d in devices:
        if d.is_default:
            return d
    return devices[0] if devices else None


_NO_DEVICE_HELP = ("no audio input device found; connect a microphone (or start the sound server), "
                   "then run `voicelive devices` to check")


def resolve_input_device(spec: int | str | None = None) -> InputDevice:
    """Find the input device meant by ``spec``.

    Parameters
    ----------
    spec : int, str or None
        A device index, a (case-insensitive) part of the device name, or None for the default.

    Raises
    ------
    DeviceError
        No input devices, no match, an ambiguous name, or a device without input channels.
    """
    devices = list_input_devices()
    if not devices:
        raise DeviceError(_NO_DEVICE_HELP)
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        dev = default_input_device()
        assert dev is not None
        return dev
    if isinstance(spec, str) and spec.strip().lstrip("-").isdigit():
        spec = int(spec.strip())
    if isinstance(spec, int):
        for d in devices:
            if d.index == spec:
                return d
        sd = sounddevice_module()
        try:
            info = sd.query_devices(spec)
        except (sd.PortAudioError, ValueError):
            info = None
        if info is not None:
            raise DeviceError(f"device {spec} ('{info['name']}') has no input channels; "
                              "run `voicelive devices` to list microphones")
        raise DeviceError(f"there is no audio device {spec}; run `voicelive devices` to list microphones")
    needle = str(spec).strip().lower()
    exact = [d for d in devices if d.name.lower() == needle]
    if len(exact) == 1:
        return exact[0]
    matches = [d for d in devices if needle in d.name.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        names = ", ".join(d.describe() for d in devices)
        raise DeviceError(f"no input device matches '{spec}' (available: {names}); "
                          "run `voicelive devices`")
    names = ", ".join(d.describe() for d in matches)
    raise DeviceError(f"'{spec}' matches several input devices ({names}); give the index instead")


def device_error(exc: Exception, device: InputDevice | None, action: str, *,
                 samplerate: float | None = None) -> DeviceError:
    """Turn a ``sounddevice.PortAudioError`` into a :class:`DeviceError` that explains it."""
    args = getattr(exc, "args", ())
    message = str(args[0]) if args else str(exc)
    code = args[1] if len(args) > 1 and isinstance(args[1], int) else None
    host = args[2] if len(args) > 2 and isinstance(args[2], tuple) else None
    host_msg = str(host[2]) if host and len(host) > 2 else ""
    what = device.describe() if device is not None else "the audio device"
    text = f"{message} {host_msg}".lower()
    if code == PA_INVALID_SAMPLE_RATE or "sample rate" in text:
        rate = f"{samplerate:g} Hz" if samplerate else "this sample rate"
        hint = f" (its default is {device.default_samplerate:g} Hz)" if device is not None else ""
        return DeviceError(f"{what} does not support {rate}{hint}; use the device's default rate "
                           "or pick another device with --device")
    if code == PA_DEVICE_UNAVAILABLE or "busy" in text or "unavailable" in text:
        return DeviceError(f"{what} is busy or unavailable ({message}); close other programs using "
                           "the microphone or pick another device with --device")
    if code == PA_INVALID_CHANNEL_COUNT:
        return DeviceError(f"{what} cannot record with this channel count ({message}); pick another device")
    if code == PA_INVALID_DEVICE:
        return DeviceError(f"{what} is no longer available ({message}); run `voicelive devices`")
    return DeviceError(f"cannot {action} on {what}: {message}{(' — ' + host_msg) if host_msg else ''}")
