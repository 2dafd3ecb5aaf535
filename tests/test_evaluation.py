import logging

import numpy as np
import pytest
import torch

from e3d2_hf.data.kinematics import forward_kinematics
from e3d2_hf.data.layout import EVAL_FRAMES
from e3d2_hf.data.motion import resample, z_up_to_y_up
from e3d2_hf.data.readers.synthetic import GENRES, synthesize_dance
from e3d2_hf.evaluation import (
    Dance,
    average_pairwise_distance,
    beat_align_score,
    evaluate_dances,
    frechet_distance,
    geometric_features,
    ground_truth_features,
    kinetic_features,
    normalise,
    token_accuracy,
)
from e3d2_hf.evaluation.metrics import PROTOCOL
from e3d2_hf.evaluation.protocol import (
    bootstrap_intervals,
    dance_features,
    dances_from_folder,
    feature_set,
    reorigin,
)
from e3d2_hf.reports.tables import metrics_table

from .conftest import shared_data
from .oracle import kinetic_oracle, manual_oracle


def real_clips():
    files = sorted(shared_data("aistpp", "joints-edge").glob("*.csv"))
    clips = []
    for f in files:
        joints = np.loadtxt(f, delimiter=",").reshape(-1, 24, 3)
        clips.append(reorigin(z_up_to_y_up(resample(joints, 30.0, 60.0))))
    return clips


def synthetic_dances(n=3, frames=400, seed=0):
    out = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        genre = GENRES[sorted(GENRES)[i % 4]]
        poses, trans = synthesize_dance(genre, 110.0, 0.3, frames, rng)
        joints = forward_kinematics(torch.as_tensor(poses), torch.as_tensor(trans)).numpy()
        out.append(joints)
    return out


def max_relative_difference(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


@pytest.mark.parametrize("reference_bug", [True, False])
def test_kinetic_features_match_the_reference_loops_on_real_aistpp(reference_bug):
    for joints in real_clips():
        ours = kinetic_features(joints, reference_bug=reference_bug)
        assert ours.shape == (72,)
        assert max_relative_difference(ours, kinetic_oracle(joints, bug=reference_bug)) <= 1e-6


def test_geometric_features_match_the_reference_loops_on_real_aistpp():
    for joints in real_clips():
        ours = geometric_features(joints)
        assert ours.shape == (32,)
        assert max_relative_difference(ours, manual_oracle(joints)) <= 1e-6


def test_features_match_the_reference_loops_on_synthetic_dances():
    for joints in synthetic_dances():
        joints = reorigin(joints)
        assert max_relative_difference(kinetic_features(joints), kinetic_oracle(joints)) <= 1e-6
        assert max_relative_difference(geometric_features(joints), manual_oracle(joints)) <= 1e-6


def test_energy_bug_measures_position_and_the_fix_measures_acceleration():
    t = np.arange(300) / 60.0
    joints = np.zeros((300, 24, 3))
    joints[:, :, 0] = 2.0  # standing still two metres from the origin
    buggy = kinetic_features(joints).reshape(24, 3)[:, 2]
    fixed = kinetic_features(joints, reference_bug=False).reshape(24, 3)[:, 2]
    np.testing.assert_allclose(buggy, 3600 * 2.0, rtol=0.03)  # ~3600 x distance: bailando.md §6
    np.testing.assert_allclose(fixed, 0.0, atol=1e-6)
    joints[:, :, 1] = 0.5 * 9.81 * t[:, None] ** 2  # free fall: |a| = 9.81
    fixed = kinetic_features(joints, reference_bug=False).reshape(24, 3)[:, 2]
    np.testing.assert_allclose(fixed, 9.81, rtol=1e-3)


def test_real_reference_features_fid_to_themselves_is_zero_and_div_positive():
    root = shared_data("aistpp", "fid-features")
    kinetic = np.stack([np.load(f) for f in sorted((root / "kinetic_features").glob("*.npy"))])
    geometric = np.stack([np.load(f) for f in sorted((root / "manual_features").glob("*.npy"))])
    assert kinetic.shape == (30, 72) and geometric.shape == (30, 32)
    for feats in (kinetic, geometric):
        normed = normalise(feats, feats)
        exact = frechet_distance(normed, normed, method="svd")
        assert isinstance(exact, float) and abs(exact) < 1e-6
        # the reference's sqrtm of a rank-29 product carries ~1e-5 of rounding
        reference = frechet_distance(normed, normed)
        assert isinstance(reference, float) and abs(reference) < 1e-4
        div = average_pairwise_distance(normed)
        assert np.isfinite(div) and div > 0


def test_fid_is_a_real_float_that_grows_with_a_mean_shift():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 72))
    b = rng.normal(size=(200, 72))
    for method in ("sqrtm", "svd"):
        base = frechet_distance(a, b, method=method)
        shifted = frechet_distance(a + 1.0, b, method=method)
        assert type(base) is float and type(shifted) is float
        expected_shift = 72.0 + 2.0 * (a.mean(0) - b.mean(0)).sum()  # |d + 1|^2 - |d|^2
        assert shifted - base == pytest.approx(expected_shift, rel=1e-6)
    assert frechet_distance(a, b, method="svd") == pytest.approx(frechet_distance(a, b), rel=1e-6)


def test_diversity_equals_the_pairwise_loop():
    x = np.random.default_rng(1).normal(size=(7, 5))
    loop = np.mean([np.linalg.norm(x[i] - x[j]) for i in range(7) for j in range(i + 1, 7)])
    assert average_pairwise_distance(x) == pytest.approx(loop, rel=1e-12)


def _beat_dance(beats, frames=900):
    """A dance whose mean joint speed has its minima exactly at `beats`."""
    t = np.arange(frames, dtype=np.float64)
    phase = np.interp(t, beats, np.arange(len(beats)))
    offset = 0.2 * np.cos(np.pi * phase)
    joints = np.zeros((frames, 24, 3))
    joints[:, :, 0] = offset[:, None]
    return joints


def test_bas_on_beat_is_high_and_half_a_beat_off_is_low():
    period = 30
    music = np.arange(15, 885, period)
    on = _beat_dance(np.arange(15, 900, period) + 0.5)  # speed[t] spans frames t..t+1
    off = _beat_dance(np.arange(0, 900, period) + 0.5)
    assert beat_align_score(music, on) > 0.9
    assert beat_align_score(music, off) < 0.3


def test_bas_at_30_fps_keeps_the_tolerance_in_seconds_and_reaches_every_report():
    from e3d2_hf.evaluation.beat_align import beat_align_score_30fps
    from e3d2_hf.evaluation.leaderboard import results_document

    period, music = 30, np.arange(15, 885, 30)
    on = _beat_dance(np.arange(15, 900, period) + 0.5)
    off = _beat_dance(np.arange(0, 900, period) + 0.5)
    assert beat_align_score_30fps(music, on) > 0.9 and beat_align_score_30fps(music, off) < 0.3
    # motion beats late by 0.017 to 0.1 s on beats that fall on odd and even 60-FPS frames
    # alike: the same tolerance in seconds gives the 60-FPS score, to the 30-FPS frame's grain
    odd_and_even = np.arange(15, 885, 31)
    for lag in range(1, 7):
        late = _beat_dance(np.arange(15 + lag, 900, 31) + 0.5)
        assert beat_align_score_30fps(odd_and_even, late) == pytest.approx(
            beat_align_score(odd_and_even, late), abs=0.05
        )
    # through the protocol, its table and the leaderboard document
    truth = ground_truth_features(synthetic_dances(6, frames=600, seed=1), cache_dir=False)
    dances = [Dance(on[:600] + 0.01 * i, music[music < 600], f"d{i}") for i in range(3)]
    result = evaluate_dances(dances, truth, bootstrap=20)
    assert result["BAS_30fps"] > 0.9 and "BAS_30fps" in result["intervals"]
    assert "BAS at 30 FPS ↑" in metrics_table({"ours": result})
    row = results_document({"ours": result}, {}, dataset="t", population=3, reference_pool=6)
    assert row["rows"][0]["beat_align_30fps"] == result["BAS_30fps"]


def test_bas_of_a_static_dance_is_zero_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        assert beat_align_score(np.array([10, 40]), np.zeros((100, 24, 3))) == 0.0
    assert "no motion beat" in caplog.text


def test_protocol_crops_to_20_seconds_and_reorigins():
    dance = synthetic_dances(1, frames=1500)[0]
    k_full, g_full = dance_features(dance)
    k_crop, g_crop = dance_features(dance[:1200] + 5.0)  # translation-invariant after re-origin
    np.testing.assert_allclose(k_full, k_crop, rtol=1e-5, atol=1e-12)
    np.testing.assert_array_equal(g_full, g_crop)


def test_a_swapped_or_edited_ground_truth_cache_entry_is_recomputed_not_trusted(tmp_path):
    """FID against the wrong ground truth would look like a result: a cache entry replaced by
    another set's, or edited, is recomputed."""
    one, other = synthetic_dances(3, frames=300, seed=1), synthetic_dances(3, frames=300, seed=5)
    truth = ground_truth_features(one, cache_dir=False)
    ground_truth_features(one, cache_dir=tmp_path / "a")
    ground_truth_features(other, cache_dir=tmp_path / "b")
    [entry], [foreign] = (tmp_path / "a").glob("*.npz"), (tmp_path / "b").glob("*.npz")
    entry.write_bytes(foreign.read_bytes())  # another set's features under this key's name
    np.testing.assert_array_equal(ground_truth_features(one, cache_dir=tmp_path / "a").kinetic,
                                  truth.kinetic)  # fmt: skip
    with np.load(entry) as e:
        arrays = dict(e)
    arrays["kinetic"] = arrays["kinetic"] + 1.0  # edited, old checksum
    np.savez(entry, **arrays)
    np.testing.assert_array_equal(ground_truth_features(one, cache_dir=tmp_path / "a").kinetic,
                                  truth.kinetic)  # fmt: skip


def test_evaluate_dances_against_cached_ground_truth(tmp_path):
    gt = synthetic_dances(6, frames=600, seed=1)
    first = ground_truth_features(gt, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    again = ground_truth_features(gt, cache_dir=tmp_path)
    np.testing.assert_array_equal(first.kinetic, again.kinetic)
    generated = [
        Dance(j, np.arange(20, 600, 33), f"d{i}")
        for i, j in enumerate(synthetic_dances(4, 600, seed=2))
    ]
    result = evaluate_dances(generated, first)
    assert set(PROTOCOL) <= set(result)
    # six traveling synthetic dances vary every geometric feature: every metric is defined
    metrics = PROTOCOL
    assert all(isinstance(result[m], float) and np.isfinite(result[m]) for m in metrics)
    assert "undefined" not in result
    table = metrics_table({"ours": result})
    assert "FID_k ↓" in table and "| ours |" in table


def test_dances_from_folder_reads_npz_and_refuses_pickles(tmp_path):
    dance = synthetic_dances(1, 300)[0]
    np.savez(
        tmp_path / "a.npz", joints=dance.reshape(300, 72), beat_frames=np.array([10, 40]), fps=60.0
    )
    np.save(tmp_path / "b.npy", dance)
    dances = dances_from_folder(tmp_path)
    assert [d.name for d in dances] == ["a", "b"] and dances[0].joints.shape == (300, 24, 3)
    np.save(
        tmp_path / "c.npy", np.array([{"pred_position": dance}], dtype=object), allow_pickle=True
    )
    with pytest.raises(Exception, match="c.npy"):
        dances_from_folder(tmp_path)


def test_token_accuracy_complete_and_partial():
    acc = token_accuracy([1, 2, 3, 4], [5, 6, 7, 8], [1, 2, 0, 0], [5, 0, 7, 0])
    assert acc == {"complete": 0.25, "partial": 0.75, "upper": 0.5, "lower": 0.5}
    with pytest.raises(ValueError):
        token_accuracy([], [], [], [])


def test_evaluate_modules_load_offline_and_match_the_functions(monkeypatch):
    import evaluate

    from e3d2_hf.evaluation.hub_metrics import metric_path

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rng = np.random.default_rng(0)
    gen, ref = rng.normal(size=(10, 8)), rng.normal(size=(30, 8))
    fid = evaluate.load(metric_path("motion_fid")).compute(predictions=gen, reference_features=ref)[
        "fid"
    ]
    assert fid == pytest.approx(
        frechet_distance(normalise(gen, ref), normalise(ref, ref)), rel=1e-9
    )
    div = evaluate.load(metric_path("motion_diversity")).compute(
        predictions=gen, reference_features=ref
    )
    assert div["diversity"] == pytest.approx(
        average_pairwise_distance(normalise(gen, ref)), rel=1e-9
    )
    period = 30
    dance = _beat_dance(np.arange(15, 900, period) + 0.5)
    music = np.arange(15, 885, period)
    bas = evaluate.load(metric_path("beat_align_score")).compute(
        predictions=[dance.reshape(-1)], references=[music]
    )["bas"]
    assert bas == pytest.approx(beat_align_score(music, dance), rel=1e-9) and bas > 0.9


def test_evaluate_cli_writes_json_and_markdown(tmp_path, capsys):
    import json

    from e3d2_hf.cli import main

    gt_dir, gen_dir = tmp_path / "gt", tmp_path / "gen"
    gt_dir.mkdir()
    gen_dir.mkdir()
    for i, joints in enumerate(synthetic_dances(5, 500, seed=3)):
        np.savez(gt_dir / f"gt{i}.npz", joints=joints, beat_frames=np.arange(20, 500, 33))
    for i, joints in enumerate(synthetic_dances(3, 500, seed=4)):
        np.savez(gen_dir / f"g{i}.npz", joints=joints, beat_frames=np.arange(20, 500, 33))
    out = tmp_path / "report"
    code = main(
        [
            "evaluate",
            "--generated",
            f"ours={gen_dir}",
            "--ground-truth",
            str(gt_dir),
            "--ground-truth-row",
            "--output-dir",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "| Ground truth |" in printed and "| ours |" in printed
    rows = json.loads((out / "metrics.json").read_text())
    assert set(rows) == {"Ground truth", "ours"} and set(rows["ours"]) >= {
        "FID_k",
        "FID_g",
        "DIV_k",
        "DIV_g",
        "BAS",
    }
    assert (out / "metrics.md").read_text().startswith("| Method |")
    # the physical diagnostics, the ground truth's first, in the markdown and diagnostics.json
    assert "| ground truth |" in printed and "foot skating (m/s)" in printed
    diagnostics = json.loads((out / "diagnostics.json").read_text())
    assert list(diagnostics)[:1] == ["ground truth"] and "ours" in diagnostics
    assert diagnostics["ours"]["joint_speed"] > 0
    # and the leaderboard results: Motius's schema, with the protocol as it is
    check_leaderboard_schema(json.loads((out / "results.json").read_text()))
    assert (
        main(["evaluate", "--generated", str(tmp_path / "missing"), "--ground-truth", str(gt_dir)])
        == 2
    )


def test_a_frozen_ground_truth_gives_n_a_with_the_reason_never_a_huge_number(tmp_path, capsys):
    import json

    from e3d2_hf.cli import main

    gt_dir, gen_dir = tmp_path / "gt", tmp_path / "gen"
    gt_dir.mkdir()
    gen_dir.mkdir()
    still = synthetic_dances(1, 500, seed=5)[0][:1]
    for i in range(4):  # the same pose held still: no kinetic or geometric feature varies
        np.save(gt_dir / f"gt{i}.npy", np.repeat(still + 0.1 * i, 500, axis=0))
    for i, joints in enumerate(synthetic_dances(3, 500, seed=6)):
        np.save(gen_dir / f"g{i}.npy", joints)  # no beats: BAS is undefined too
    out = tmp_path / "report"
    argv = ["evaluate", "--generated", f"ours={gen_dir}", "--ground-truth", str(gt_dir)]
    assert main([*argv, "--output-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| ours | n/a | n/a | n/a | n/a | n/a |" in printed
    assert "never varies in feature(s) #0 (pelvis horizontal KE)" in printed
    assert "no music beats" in printed
    row = json.loads((out / "metrics.json").read_text())["ours"]
    assert all(row[m] is None for m in PROTOCOL)
    assert set(row["undefined"]) == set(PROTOCOL)


def test_undefined_metrics_leave_the_defined_ones_as_the_reference_computes_them():
    gt = synthetic_dances(6, frames=600, seed=1)
    features = ground_truth_features(gt, cache_dir=False)
    generated = [Dance(j, None, f"d{i}") for i, j in enumerate(synthetic_dances(4, 600, seed=2))]
    with_beats = [Dance(d.joints, np.arange(20, 600, 33), d.name) for d in generated]
    result, reference = evaluate_dances(generated, features), evaluate_dances(with_beats, features)
    assert result["BAS"] is None and "BAS" not in reference.get("undefined", {})
    assert result["undefined"]["BAS"] == "no music beats are known for the generated dances"
    for metric in ("FID_k", "DIV_k"):
        assert result[metric] == reference[metric] and np.isfinite(result[metric])


def test_an_undefined_metric_names_the_features_the_ground_truth_never_varies_in():
    """A ground truth that never pops its chest never fires the chest-stretch features #4 and
    #5; a decoded dance whose spine stretches 1 cm in one frame does, so FID_g and DIV_g are
    undefined, and the reason names the features, the share of dances that leave them and by
    how much."""
    gt = [j for j in synthetic_dances(12, frames=600, seed=1) if geometric_features(j)[4] == 0]
    features = ground_truth_features(gt[:6], cache_dir=False)
    assert {4, 5} <= set(np.flatnonzero(features.geometric.std(0) < 1e-8))
    dances = gt[:4]  # the ground truth's own dances: only the stretch departs
    stretched = dances[0].copy()
    chest = [9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]  # the chest and all above it
    stretched[300:, chest] += (stretched[300, 9] - stretched[300, 3]) * 0.05  # 1 cm, then held
    generated = [Dance(j, np.arange(20, 600, 33)) for j in [stretched, *dances[1:]]]
    result = evaluate_dances(generated, features)
    assert result["FID_g"] is None and result["DIV_g"] is None
    assert np.isfinite(result["FID_k"]) and np.isfinite(result["BAS"])
    reason = result["undefined"]["FID_g"]
    assert reason.startswith(
        "the ground truth never varies in feature(s) #4 (move belly-chest-rwrist), "
        "#5 (move belly-chest-lwrist), which 25% of the generated dances leave (furthest: #"
    )
    frame = 1 / 599  # one frame step of 599 fires the feature
    assert f", by {frame:.3g}): the protocol divides by that zero spread" in reason
    unstretched = evaluate_dances(generated[1:], features)
    assert np.isfinite(unstretched["FID_g"]) and "undefined" not in unstretched


# The fields of the Motius music-to-dance leaderboard (ZeyuLing/Motius,
# docs/leaderboards/hf_space_music_to_dance/music_to_dance_results.json): every document has
# these, every row these, and its protocol block these.
MOTIUS_TOP = {"schema_version", "task", "dataset", "population", "updated", "protocol", "rows"}
MOTIUS_PROTOCOL = {
    "official_reference_pool", "official_motion_fps", "motius_motion_fps", "utmr_evaluator",
    "utmr_embedding_normalization", "beat_tolerance_seconds", "beat_smoothing_seconds",
}  # fmt: skip
MOTIUS_ROW = {
    "method", "version", "reference", "checkpoint", "fid_k", "fid_g", "diversity_k",
    "diversity_g", "beat_align", "beat_align_30fps", "fid_utmr", "jitter", "float", "slide",
}  # fmt: skip


def check_leaderboard_schema(document: dict) -> None:
    import datetime

    assert set(document) >= MOTIUS_TOP
    assert document["schema_version"] == 1 and document["task"] == "music_to_dance"
    datetime.date.fromisoformat(document["updated"])
    assert set(document["protocol"]) >= MOTIUS_PROTOCOL
    protocol = document["protocol"]
    assert protocol["official_motion_fps"] == 60 and protocol["utmr_evaluator"] is None
    assert protocol["beat_tolerance_seconds"] == pytest.approx(3 / 60)  # BAS sigma: 3 frames
    assert protocol["beat_smoothing_seconds"] == pytest.approx(5 / 60)  # speed smoothing: 5
    assert isinstance(document["population"], int) and document["population"] > 0
    for row in document["rows"]:
        assert set(row) >= MOTIUS_ROW, MOTIUS_ROW - set(row)
        assert isinstance(row["reference"], bool)
        for field in MOTIUS_ROW - {"method", "version", "reference", "checkpoint"}:
            assert row[field] is None or isinstance(row[field], float), (field, row[field])


def test_leaderboard_rows_carry_the_metrics_and_null_for_what_is_undefined():
    from e3d2_hf.evaluation.leaderboard import results_document

    rows = {
        "ours": {"FID_k": 12.5, "FID_g": None, "DIV_k": 7.0, "DIV_g": None, "BAS": 0.21,
                 "undefined": {"FID_g": "geometric features are SMPL-24 only"}},
    }  # fmt: skip
    diagnostics = {"ground truth": {"jitter": 40.0, "floating": 0.02, "foot_skating": 0.1},
                   "ours": {"jitter": 55.0, "floating": 0.03, "foot_skating": None}}  # fmt: skip
    document = results_document(
        rows, diagnostics, dataset="test", population=4, reference_pool=10, clip_frames=900
    )
    check_leaderboard_schema(document)
    truth, ours = document["rows"]
    assert truth["method"] == "ground truth" and truth["reference"] is True
    assert truth["fid_k"] is None and truth["jitter"] == 40.0
    assert ours["reference"] is False and ours["fid_k"] == 12.5 and ours["diversity_k"] == 7.0
    assert ours["fid_g"] is None and ours["slide"] is None and ours["float"] == 0.03
    assert ours["undefined"] == {"FID_g": "geometric features are SMPL-24 only"}
    assert document["protocol"]["clip_seconds"] == 15.0
    assert document["protocol"]["official_reference_pool"] == 10


def test_bootstrap_intervals_cover_the_defined_metrics_only():
    gt = synthetic_dances(6, frames=600, seed=1)
    truth = ground_truth_features(gt, cache_dir=False)
    generated = [
        Dance(j, np.arange(20, 600, 33), f"d{i}")
        for i, j in enumerate(synthetic_dances(5, 600, seed=2))
    ]
    result = evaluate_dances(generated, truth, bootstrap=40)
    intervals = result["intervals"]
    defined = {m for m in PROTOCOL if result[m] is not None}
    assert set(intervals) == defined and {"FID_k", "BAS"} <= defined
    for metric, (low, high) in intervals.items():
        assert low <= high, metric
    for metric in intervals:  # bias-corrected: a resample's repeated pieces raise FID by themselves
        assert intervals[metric][0] <= result[metric] <= intervals[metric][1], metric
    gen = feature_set([d.joints for d in generated], EVAL_FRAMES, True)
    bas = [beat_align_score(d.music_beats, d.joints) for d in generated]
    raw = bootstrap_intervals(gen, truth, {"BAS": bas}, {}, 40)  # plain percentiles
    assert raw["FID_k"][0] > intervals["FID_k"][0] and raw["DIV_k"][1] < intervals["DIV_k"][1]
    assert evaluate_dances(generated, truth, bootstrap=40)["intervals"] == intervals  # seeded


def test_every_report_reads_its_metrics_from_the_one_table():
    from e3d2_hf.evaluation.claims import SEED_METRICS
    from e3d2_hf.evaluation.leaderboard import METRIC_FIELDS
    from e3d2_hf.evaluation.metrics import METRICS, PROTOCOL
    from e3d2_hf.evaluation.physical import DIAGNOSTICS, MOVEMENT
    from e3d2_hf.evaluation.protocol import COLUMNS, LOWER_IS_BETTER
    from e3d2_hf.reports.ppo import CURVE_PANELS
    from e3d2_hf.reports.tables import PPO_COLUMNS

    by_key = {m.key: m for m in METRICS.values()}
    assert COLUMNS == PROTOCOL
    assert PROTOCOL[:5] == ("FID_k", "FID_g", "DIV_k", "DIV_g", "BAS")  # the paper's Table 1
    assert {k: v for k, v in LOWER_IS_BETTER.items() if k in PROTOCOL[:5]} == {
        "FID_k": True, "FID_g": True, "DIV_k": False, "DIV_g": False, "BAS": False
    }  # fmt: skip
    assert [(k, t) for k, t in PPO_COLUMNS] == [(k, by_key[k].heading) for k, _ in PPO_COLUMNS]
    assert dict(PPO_COLUMNS)["eval_FID_k"] == "FID_k ↓" and dict(PPO_COLUMNS)["eval_BAS"] == "BAS ↑"
    assert all(by_key[k].label == t for k, t in CURVE_PANELS)
    assert all(by_key[k].lower_is_better == lower for k, _, lower in SEED_METRICS)
    assert {k for k, _, _ in SEED_METRICS} >= {f"eval_{m}" for m in (*COLUMNS, *MOVEMENT)}
    from e3d2_hf.evaluation.leaderboard import MOTIUS_METRIC_FIELDS, UNAVAILABLE_FIELDS

    paper = {"fid_k": "FID_k", "fid_g": "FID_g", "diversity_k": "DIV_k", "diversity_g": "DIV_g",
             "beat_align": "BAS"}  # fmt: skip
    assert paper.items() <= METRIC_FIELDS.items()  # Motius's names for the paper's metrics
    assert set(METRIC_FIELDS) | set(UNAVAILABLE_FIELDS) == set(MOTIUS_METRIC_FIELDS)
    assert not set(METRIC_FIELDS) & set(UNAVAILABLE_FIELDS)
    units = {key: unit for key, _, unit in DIAGNOSTICS}
    assert all(METRICS[m].unit == units[m] for m in MOVEMENT)  # one declaration, read twice


def test_evaluate_scores_dance_with_melody_dances_as_e3d2_dance_writes_them(tmp_path, capsys):
    """A 23-joint ground truth: the dances `e3d2 dance` writes (named after the piece, no
    beats, standing on height 0) take the ground truth's beats and floor; the metrics that the
    skeleton supports are scored, the others n/a with the reason."""
    import json

    from e3d2_hf.cli import main
    from e3d2_hf.data.skeleton import DANCE_WITH_MELODY23 as DWM

    rng = np.random.default_rng(0)
    rest = DWM.rest_positions()
    rest[:, DWM.up_index] -= rest[:, DWM.up_index].min()

    def dance(frames: int = 600) -> np.ndarray:
        sway = np.cumsum(rng.normal(0, 0.004, (frames, DWM.num_joints, 3)), axis=0)
        sway[..., DWM.up_index] = np.abs(sway[..., DWM.up_index])  # the feet stay above
        return rest[None] + sway

    gt_dir, gen_dir = tmp_path / "gt", tmp_path / "gen"
    gt_dir.mkdir()
    gen_dir.mkdir()
    markers = 0.07  # mocap markers sit above the floor the dancers stand on
    for i in range(4):
        np.savez(
            gt_dir / f"DANCE_W_{i}.npz", joints=dance() + np.array([0, markers, 0]),
            beat_frames=np.arange(15, 600, 30), skeleton=DWM.name,
        )  # fmt: skip
    for i in range(2):  # as `e3d2 dance` writes them: cleaned, standing on 0, no beats
        np.savez(gen_dir / f"DANCE_W_{i}.npz", joints=dance().astype(np.float32), fps=60.0,
                 skeleton=DWM.name, cleanup="contact")  # fmt: skip
    out = tmp_path / "report"
    argv = ["evaluate", "--generated", f"ours={gen_dir}", "--ground-truth", str(gt_dir)]
    assert main([*argv, "--output-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    row = json.loads((out / "metrics.json").read_text())["ours"]
    assert row["FID_k"] is not None and row["DIV_k"] is not None
    assert row["BAS"] is not None  # the beats of the ground-truth piece of the same name
    assert row["FID_g"] is None and "SMPL-24" in row["undefined"]["FID_g"]
    diagnostics = json.loads((out / "diagnostics.json").read_text())
    # placed on the ground truth's floor, the dances neither sink nor float by the markers
    assert diagnostics["ours"]["penetration"] < 0.01 and diagnostics["ours"]["floating"] < 0.03
    assert "n/a" in printed
    # an SMPL-24 dance against this ground truth is refused, naming the file and both skeletons
    smpl_dir = tmp_path / "smpl"
    smpl_dir.mkdir()
    np.savez(smpl_dir / "x.npz", joints=synthetic_dances(1, 600, seed=1)[0])
    argv = ["evaluate", "--generated", f"smpl={smpl_dir}", "--ground-truth", str(gt_dir)]
    assert main([*argv, "--output-dir", str(tmp_path / "r2")]) == 2
    error = capsys.readouterr().err
    assert "x" in error and "smpl24 dance" in error and DWM.name in error
