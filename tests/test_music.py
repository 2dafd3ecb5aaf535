import numpy as np
import pytest
import soundfile as sf

from e3d2_hf.data import music
from e3d2_hf.data.layout import MusicLayout
from e3d2_hf.data.music import beat_frames, load_audio, music_features
from e3d2_hf.utils.errors import DataFileError

from .conftest import shared_data


def click_track(bpm: float, seconds: float, sr: int, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    y = np.zeros_like(t)
    n = int(0.03 * sr)
    for b in np.arange(0.0, seconds, 60.0 / bpm):
        i = int(b * sr)
        seg = y[i : i + n]
        seg += np.sin(2 * np.pi * 1000 * t[: len(seg)]) * np.exp(-t[: len(seg)] * 100)
    return np.stack([y] * channels, axis=-1) if channels > 1 else y


@pytest.fixture(scope="module")
def click_wav(tmp_path_factory):
    path = tmp_path_factory.mktemp("audio") / "click120.wav"
    sf.write(path, click_track(120, 10.0, 44100), 44100)
    return path


def test_120_bpm_click_gives_a_beat_every_30_frames_at_60_fps(click_wav):
    features = music_features(click_wav, 60.0, cache_dir=False)
    n_samples = int(round(10.0 * 30720))
    assert features.shape == (1 + n_samples // 512, MusicLayout.DIM)
    beats = beat_frames(features)
    assert len(beats) >= 15
    assert np.all(np.abs(np.diff(beats) - 30) <= 1), beats
    # the clicks sit at multiples of 30 frames: every beat is within one frame of one
    assert np.all(np.abs(beats - 30 * np.round(beats / 30)) <= 1), beats


def test_token_rate_features_have_the_token_frame_count(click_wav):
    features = music_features(click_wav, 7.5, cache_dir=False)
    assert features.shape == (1 + int(round(10.0 * 3840)) // 512, 438)
    assert np.isfinite(features).all()


def test_stereo_and_other_sample_rates_give_the_same_features(tmp_path):
    mono = click_track(100, 6.0, 44100)
    sf.write(tmp_path / "mono.wav", mono, 44100)
    sf.write(tmp_path / "stereo.wav", np.stack([mono, mono], -1), 44100)
    sf.write(tmp_path / "lowrate.wav", click_track(100, 6.0, 22050), 22050)
    a = music_features(tmp_path / "mono.wav", 60, cache_dir=False)
    b = music_features(tmp_path / "stereo.wav", 60, cache_dir=False)
    c = music_features(tmp_path / "lowrate.wav", 60, cache_dir=False)
    np.testing.assert_allclose(a, b, atol=1e-4)
    assert a.shape == c.shape
    np.testing.assert_array_equal(beat_frames(a), beat_frames(c))


def test_mp3_reads_with_offset_and_duration():
    mp3 = shared_data("dance-with-melody", "DANCE_C_6", "audio.mp3")
    audio = load_audio(mp3, 30720, offset=10.0, duration=2.0)
    assert len(audio) == 2 * 30720
    features = music_features(mp3, 60, offset=10.0, duration=2.0, cache_dir=False)
    assert features.shape == (1 + 2 * 30720 // 512, 438)


def test_cache_returns_identical_features_without_recomputing(tmp_path, click_wav, monkeypatch):
    first = music_features(click_wav, 60, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr(music, "features_from_waveform", fail)
    second = music_features(click_wav, 60, cache_dir=tmp_path)
    np.testing.assert_array_equal(first, second)
    # the key is the content: a copy under another name hits the same entry
    copy = tmp_path / "renamed.wav"
    copy.write_bytes(click_wav.read_bytes())
    np.testing.assert_array_equal(music_features(copy, 60, cache_dir=tmp_path), first)


def test_a_truncated_edited_or_swapped_cache_entry_is_recomputed_not_trusted(tmp_path, click_wav):
    """The cache is checked, not trusted: each damaged entry gives the true features again."""
    truth = music_features(click_wav, 60, cache_dir=False)
    cache = tmp_path / "cache"
    music_features(click_wav, 60, cache_dir=cache)
    [entry] = cache.glob("*.npz")
    other = tmp_path / "other.wav"
    sf.write(other, click_track(90, 10.0, 44100), 44100)
    music_features(other, 60, cache_dir=cache)
    [other_entry] = set(cache.glob("*.npz")) - {entry}

    def fewer_rows(path):
        with np.load(path) as e:
            arrays = dict(e)
        np.savez(path, **{**arrays, "features": arrays["features"][:100]})

    def nan(path):
        with np.load(path) as e:
            arrays = dict(e)
        arrays["features"][5, 5] = np.nan
        np.savez(path, **arrays)

    damages = {
        "truncated file": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
        "fewer rows, old checksum": fewer_rows,
        "a NaN, old checksum": nan,
        "another song's entry": lambda p: p.write_bytes(other_entry.read_bytes()),
        "a bare .npy of the right shape": lambda p: p.write_bytes(
            (
                np.save(tmp_path / "x.npy", np.zeros((100, 438), np.float32)),
                (tmp_path / "x.npy").read_bytes(),
            )[1]
        ),
    }
    for what, damage in damages.items():
        pristine = entry.read_bytes()
        damage(entry)
        again = music_features(click_wav, 60, cache_dir=cache)
        np.testing.assert_array_equal(again, truth, err_msg=what)
        assert entry.read_bytes() != b"" and np.load(entry)["features"].shape == truth.shape, what
        entry.write_bytes(pristine)


def test_one_second_audio_works(tmp_path):
    sf.write(tmp_path / "short.wav", click_track(120, 1.0, 22050), 22050)
    features = music_features(tmp_path / "short.wav", 60, cache_dir=False)
    assert features.shape == (61, 438) and np.isfinite(features).all()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: None, "not found"),
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_text("this is not audio\n" * 100), "cannot be decoded as audio"),
        (lambda p: sf.write(p, np.zeros(44100), 44100), "silent"),
    ],
    ids=["missing", "empty", "not-audio", "silent"],
)
def test_bad_audio_names_the_file_and_the_problem(tmp_path, make, message):
    path = tmp_path / "song.wav"
    make(path)
    with pytest.raises(DataFileError, match=message) as info:
        music_features(path, 60, cache_dir=False)
    assert str(path) in str(info.value)


def test_truncated_wav_is_reported(tmp_path):
    path = tmp_path / "cut.wav"
    sf.write(path, click_track(120, 4.0, 22050), 22050, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFileError, match="truncated|cannot be decoded") as info:
        music_features(path, 60, cache_dir=False)
    assert str(path) in str(info.value)


def test_offset_past_the_end_is_reported(click_wav):
    with pytest.raises(DataFileError, match="outside"):
        load_audio(click_wav, 30720, offset=60.0)


@pytest.mark.parametrize(
    ("sample_rate", "seconds"), [(30720, 6.0), (3840, 16.0), (3840, 1.0), (30720, 1.0)]
)
def test_hpss_equals_librosa_bit_for_bit(sample_rate, seconds):
    """The fast median filters change no feature: tone + noise bursts, at both feature rates,
    down to the shortest audio (8 frames: shorter than the 31-frame window, so scipy's path)."""
    import librosa

    t = np.arange(int(sample_rate * seconds)) / sample_rate
    bursts = np.random.default_rng(0).standard_normal(len(t)) * (np.sin(2 * np.pi * 2 * t) > 0.9)
    audio = (0.3 * np.sin(2 * np.pi * 330 * t) + 0.2 * bursts).astype(np.float32)
    for ours, reference in zip(music.hpss(audio), librosa.effects.hpss(audio), strict=True):
        assert ours.dtype == reference.dtype
        np.testing.assert_array_equal(ours, reference)


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("length", [2, 8, 30, 31, 32, 200])
def test_median_filter_equals_scipy_reflect(axis, length):
    from scipy import ndimage

    values = np.abs(
        np.random.default_rng(length).standard_normal((40, length) if axis else (length, 40))
    )
    values = values.astype(np.float32)
    size = (1, 31) if axis else (31, 1)
    expected = ndimage.median_filter(values, size=size, mode="reflect")
    np.testing.assert_array_equal(music.median_filter(values, 31, axis=axis, block=500), expected)
