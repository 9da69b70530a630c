"""Sources: array/file/push sources and the microphone source against a fake PortAudio."""

from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import soxr
from synth import synth_speaker_wave

from voicelive.audio import devices
from voicelive.audio.sources import ArraySource, FileSource, MicSource, PushSource, SyntheticSource
from voicelive.errors import AudioError, AudioFileError, ConfigError, DeviceError

SR = 16_000


# ---------------------------------------------------------------------------------------------
# in-memory and file sources
# ---------------------------------------------------------------------------------------------
def _drain(src):
    blocks = []
    while (b := src.read()) is not None:
        blocks.append(b)
    return blocks


def test_array_source_delivers_the_wave_in_blocks_then_finishes():
    wave = np.arange(2500, dtype=np.float32) / 2500
    src = ArraySource(wave, block_size=1000)
    blocks = _drain(src)
    assert [b.size for b in blocks] == [1000, 1000, 500]
    np.testing.assert_array_equal(np.concatenate(blocks), wave)
    assert src.finished and src.read() is None
    st = src.stats()
    assert (st.blocks, st.samples, st.dropped_blocks) == (3, 2500, 0)


def test_looping_source_never_finishes():
    src = SyntheticSource(np.ones(300, dtype=np.float32), block_size=200, loop=True)
    sizes = [src.read().size for _ in range(5)]
    assert sizes == [200, 100, 200, 100, 200] and not src.finished


def test_realtime_pacing_follows_the_clock():
    now = [0.0]
    slept = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    src = ArraySource(np.zeros(1600, np.float32), block_size=800, realtime=True,
                      clock=lambda: now[0], sleep=sleep)
    src.start()
    assert src.read(timeout=0.0) is None           # first block is due at 0.05 s
    assert src.read(timeout=0.01) is None and slept == [0.01]
    assert src.read(timeout=1.0).size == 800       # sleeps until it is due
    assert now[0] == pytest.approx(0.05)
    now[0] = 10.0
    assert src.read().size == 800                  # late: delivered at once
    assert src.finished


def test_array_source_validates_its_input():
    with pytest.raises(AudioError, match="shape"):
        ArraySource(np.zeros((10, 2), np.float32))
    with pytest.raises(ConfigError, match="block_size"):
        ArraySource(np.zeros(10, np.float32), block_size=0)


def test_file_source_reads_any_rate_and_channel_count(tmp_path):
    t = np.arange(44_100) / 44_100
    stereo = np.stack([np.sin(2 * np.pi * 300 * t), np.sin(2 * np.pi * 300 * t)], axis=1) * 0.5
    path = tmp_path / "tone.wav"
    sf.write(path, stereo, 44_100)
    src = FileSource(path, block_size=4096)
    wave = np.concatenate(_drain(src))
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert wave.size == pytest.approx(SR, abs=2)
    assert np.sqrt(np.mean(wave ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(AudioFileError, match="not found"):
        FileSource(tmp_path / "nope.wav")


def test_push_source_drops_and_counts_when_the_consumer_stalls():
    src = PushSource(queue_blocks=4)
    src.start()
    for _ in range(10):
        src.push(np.zeros(160, np.float32))        # nobody reads: a stalled consumer
    assert src.stats().dropped_blocks == 6
    assert len(_drain(src)) == 4
    assert not src.finished
    src.close()
    assert src.finished
    with pytest.raises(AudioError, match="NaN"):
        src.push(np.array([0.0, np.nan], np.float32))


# ---------------------------------------------------------------------------------------------
# microphone against a fake PortAudio
# ---------------------------------------------------------------------------------------------
class FakePortAudioError(Exception):
    pass


class FakeFlags:
    def __init__(self, overflow=False):
        self.input_overflow = overflow

    def __bool__(self):
        return self.input_overflow


class FakeStream:
    def __init__(self, sd, **kw):
        self.sd, self.kw = sd, kw
        if sd.open_error is not None:
            raise sd.open_error
        self.active = False
        self.closed = False
        sd.streams.append(self)

    def start(self):
        if self.sd.start_error is not None:
            raise self.sd.start_error
        self.active = True

    def abort(self, ignore_errors=True):
        self.active = False

    def close(self, ignore_errors=True):
        self.closed = True

    # test helpers: what PortAudio's thread would do
    def deliver(self, block, overflow=False):
        self.kw["callback"](block, len(block), None, FakeFlags(overflow))

    def vanish(self):
        self.active = False
        self.kw["finished_callback"]()


class FakeSd:
    PortAudioError = FakePortAudioError

    def __init__(self, devs, default=0, rates=(48_000.0, 44_100.0, 16_000.0)):
        self.devs = devs
        self.default = SimpleNamespace(device=[default, -1])
        self.rates = rates
        self.open_error = None
        self.start_error = None
        self.streams = []

    def query_devices(self, device=None, kind=None):
        if device is not None:
            if not 0 <= device < len(self.devs):
                raise FakePortAudioError("Error querying device", -9996)
            return self.devs[device]
        return list(self.devs)

    def query_hostapis(self):
        return [{"name": "ALSA"}]

    def check_input_settings(self, device=None, samplerate=None, channels=None, dtype=None):
        if samplerate not in self.rates:
            raise FakePortAudioError("Error opening InputStream: Invalid sample rate", -9997)

    def InputStream(self, **kw):
        return FakeStream(self, **kw)


def _dev(index, name, ins=2, rate=48_000.0):
    return {"index": index, "name": name, "hostapi": 0, "max_input_channels": ins,
            "max_output_channels": 2, "default_samplerate": rate}


@pytest.fixture
def fake_sd(monkeypatch):
    sd = FakeSd([_dev(0, "USB Mic (hw:1,0)"), _dev(1, "HDMI out", ins=0), _dev(2, "pulse", rate=44_100.0)])
    monkeypatch.setattr(devices, "sounddevice_module", lambda: sd)
    return sd


def test_device_listing_marks_the_default(fake_sd):
    devs = devices.list_input_devices()
    assert [d.index for d in devs] == [0, 2]
    assert devs[0].is_default and not devs[1].is_default
    assert devs[1].default_samplerate == 44_100.0 and devs[1].hostapi == "ALSA"


def test_device_by_index_or_name_and_clear_errors(fake_sd):
    assert devices.resolve_input_device(None).index == 0
    assert devices.resolve_input_device("usb").index == 0
    assert devices.resolve_input_device("2").index == 2
    with pytest.raises(DeviceError, match="no input channels"):
        devices.resolve_input_device(1)
    with pytest.raises(DeviceError, match="no audio device 7"):
        devices.resolve_input_device(7)
    with pytest.raises(DeviceError, match="no input device matches 'webcam'"):
        devices.resolve_input_device("webcam")
    fake_sd.devs.append(_dev(3, "USB Mic 2"))
    with pytest.raises(DeviceError, match="several"):
        devices.resolve_input_device("usb mic")


def test_no_input_device_at_all(monkeypatch):
    monkeypatch.setattr(devices, "sounddevice_module", lambda: FakeSd([_dev(0, "HDMI", ins=0)], default=-1))
    with pytest.raises(DeviceError, match="no audio input device found"):
        MicSource().start()


def test_devices_command_lists_or_explains(fake_sd, capsys, monkeypatch):
    from voicelive.cli import main

    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "* " in out and "USB Mic" in out and "48000 Hz" in out and "HDMI" not in out
    monkeypatch.setattr(devices, "sounddevice_module", lambda: FakeSd([], default=-1))
    assert main(["devices"]) == 1
    assert "no audio input devices found" in capsys.readouterr().err


def test_unsupported_sample_rate(fake_sd):
    with pytest.raises(DeviceError, match="does not support 12345 Hz"):
        MicSource(samplerate=12_345).start()


def test_busy_device(fake_sd):
    fake_sd.open_error = FakePortAudioError("Error opening InputStream: Device unavailable", -9985)
    with pytest.raises(DeviceError, match="busy"):
        MicSource().start()
    assert fake_sd.streams == []


def test_missing_portaudio_library(monkeypatch):
    def boom():
        raise DeviceError("the PortAudio library is not available")

    monkeypatch.setattr(devices, "sounddevice_module", boom)
    with pytest.raises(DeviceError, match="PortAudio"):
        MicSource().start()


def test_mic_converts_to_mono_16k_without_block_edge_clicks(fake_sd):
    mic = MicSource(block_size=1024)
    mic.start()
    stream = fake_sd.streams[0]
    assert stream.kw["samplerate"] == 48_000.0 and stream.kw["blocksize"] == 3072
    speech48 = soxr.resample(synth_speaker_wave(2, 1.0, seed=1), SR, 48_000).astype(np.float32)
    stereo = np.stack([speech48, speech48], axis=1)
    out = []
    for i in range(0, len(stereo), 3072):
        stream.deliver(stereo[i:i + 3072])
        out.append(mic.read())
    got = np.concatenate(out)
    ref = soxr.resample(speech48, 48_000, SR, quality="HQ").astype(np.float32)
    n = got.size
    assert n > 0.95 * SR
    np.testing.assert_allclose(got, ref[:n], atol=1e-4)  # streaming == one-shot: no edges
    mic.stop()
    assert stream.closed


def test_mic_callback_counts_overflows_and_drops(fake_sd):
    mic = MicSource(queue_blocks=3)
    mic.start()
    stream = fake_sd.streams[0]
    block = np.zeros((3072, 1), np.float32)
    stream.deliver(block, overflow=True)
    for _ in range(4):
        stream.deliver(block)
    st = mic.stats()
    assert (st.overflows, st.status_flags, st.dropped_blocks) == (1, 1, 2)
    mic.stop()


def test_device_vanishing_mid_stream_is_an_error_not_a_hang(fake_sd):
    mic = MicSource()
    mic.start()
    fake_sd.streams[0].vanish()
    with pytest.raises(DeviceError, match="stopped delivering audio"):
        mic.read(timeout=0.0)
    mic.stop()


def test_a_silent_stall_is_reported(fake_sd):
    mic = MicSource(stall_timeout_s=0.0)
    mic.start()
    with pytest.raises(DeviceError, match="no audio from"):
        mic.read(timeout=0.0)
    mic.stop()
    mic.stop()  # idempotent
