"""Fig. 5's separation rows (pipelines/dgm/fig05_separation.py): the TS 38.214 table fitted to a
face's budget, AMC's choice for an estimated SNR, the resolution per MCS, the bandwidth accounting,
the mean-face fallback and the stage's errors.  Real faces from the data mirror (JSCC_DATA_MIRROR); skipped
without it."""
from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("pillow_heif")
pytest.importorskip("sionna.phy")

from jscc_core.digital.codecs import HEVCIntra, Rescaled
from jscc_core.digital.mcs import TS38214_MCS_TABLE, codeword_length, snr_threshold_db
from jscc_core.digital.rate_control import EncodingCache, fit_to_budget
from jscc_core.digital.separation import CRC_BITS, channel_uses_budget, mcs_frame_budget, select_for_snr_estimate
from jscc_core.profiles import ProfileError
from pipelines.dgm import fig05_separation as f05
from pipelines.dgm.fig05_record import read_record
from pipelines.profile import load

BUDGET = 245  # floor(0.02 x 64 x 64 x 3) complex channel uses
MIRROR = os.environ.get("JSCC_DATA_MIRROR")
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def table():
    return f05.amc_table(BUDGET, 4096)


def symbols(index: int, k: int) -> int:
    e = TS38214_MCS_TABLE[index]
    return codeword_length(k, Fraction(e.rate_x1024, 1024), e.qm) // e.qm


def test_fitted_k_is_the_largest_codeword_within_the_budget(table):
    assert channel_uses_budget((64, 64), 0.02) == BUDGET
    assert [f05.mcs_index(m) for m in table] == list(range(29))
    for m in table:
        i = f05.mcs_index(m)
        assert m.n // m.bits_per_symbol == m.num_symbols == symbols(i, m.k) <= BUDGET < symbols(i, m.k + 1)
        assert mcs_frame_budget(BUDGET, m) == (1, m.k - CRC_BITS)  # one codeword, the CRC charged
    # a budget that holds the paper's k = 4096 keeps it: MCS 11-28 (MCS 10 needs 3085 symbols)
    big = f05.amc_table(3000, 4096)
    assert [f05.mcs_index(m) for m in big if m.k == 4096] == list(range(11, 29))
    assert all(m.k < 4096 and m.num_symbols <= 3000 for m in big if f05.mcs_index(m) < 11)
    assert f05.fitted_k(0, 51, 4096) is None  # MCS 0's k = 12 codeword needs 52 symbols
    assert [f05.mcs_index(m) for m in f05.amc_table(BUDGET, 4096, lowest=3)] == list(range(3, 29))
    with pytest.raises(ValueError, match="lowest_mcs = 29"):
        f05.amc_table(BUDGET, 4096, lowest=29)
    with pytest.raises(ValueError, match="ldpc_k = 9000"):
        f05.fitted_k(5, BUDGET, 9000)


@pytest.mark.parametrize("estimate", [-4.0, -2.0, 0.0, 2.0, 4.0, 6.0, 8.0, 19.0])
def test_amc_picks_the_fastest_table_entry_whose_threshold_the_estimate_meets(table, estimate):
    chosen = f05.choose_mcs(estimate, table, 0.1)
    thresholds = {m.name: snr_threshold_db(m, 0.1) for m in table}
    assert thresholds[chosen.name] <= estimate
    faster = [m for m in table if m.spectral_efficiency > chosen.spectral_efficiency]
    assert all(thresholds[m.name] > estimate for m in faster)
    assert chosen == select_for_snr_estimate(estimate, table, target_bler=0.1)  # the library's transmitter


def test_amc_choices_at_the_figure_snrs(table):
    names = {s: f05.choose_mcs(s, table, 0.1).name.split()[0] for s in (6, 4, 2, 0, -2, -4)}
    assert names == {6: "MCS12", 4: "MCS10", 2: "MCS7", 0: "MCS5", -2: "MCS3", -4: "MCS1"}
    assert f05.choose_mcs(-10.0, table, 0.1) is None  # below MCS 0's threshold nothing is sent
    with pytest.raises(ValueError, match="100"):
        f05.choose_mcs(100.0, table, 0.1)
    assert f05.choose_mcs(-4.0, table, 0.01).spectral_efficiency < f05.choose_mcs(-4.0, table, 0.1).spectral_efficiency


@settings(max_examples=30, deadline=None)
@given(st.floats(-12, 25), st.floats(0, 10))
def test_a_lower_estimate_never_picks_a_higher_spectral_efficiency(table, high, gap):
    def se(estimate):
        m = f05.choose_mcs(estimate, table, 0.1)
        return 0.0 if m is None else m.spectral_efficiency

    assert se(high - gap) <= se(high)


# --------------------------------------------------------------------------- the stage on real faces


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    if not MIRROR or not (Path(MIRROR) / "faces_more").is_dir():
        pytest.skip("needs the face set in the data mirror (JSCC_DATA_MIRROR)")
    from pipelines.gjscc.data import write_split

    split = tmp_path_factory.mktemp("split") / "split.json"
    profile = small_profile()
    write_split(profile, split, MIRROR)
    ids, imgs = f05.test_faces(profile, split, MIRROR)
    mean, n_train = f05.mean_face(profile, split, MIRROR)
    return split, ids, imgs, mean, n_train


def small_profile(**extra):
    """Two faces, two SNRs, the resolution designed on 4 faces; rho 0.1 so that every scheme sends at 6 dB."""
    return load("mini", overrides={"dgm.fig05.images": 2, "dgm.fig05.max_rho": 0.1, "dgm.fig05.snr_db": [6, -4],
                                   "dgm.fig05.separation.stale_estimate_db": [8, -2],
                                   "dgm.fig05.separation.design_faces": 4, **extra})


def test_mean_face_is_the_training_faces_per_pixel_mean(faces):
    split, ids, imgs, mean, n_train = faces
    from pipelines.gjscc.common import split_faces

    _, train = split_faces(small_profile(), split, MIRROR, "train")
    assert n_train == len(train) > 1000 and mean.shape == (64, 64, 3)
    assert np.allclose(mean, train.mean(axis=0) / 255.0)
    assert mean.std() > 0.01  # a face, not a colour


def test_every_scheme_within_the_budget_with_the_mean_face_for_lost_faces(faces):
    split, ids, imgs, mean, _ = faces
    profile = small_profile()
    budget = channel_uses_budget((64, 64), 0.1)
    codec, cache = HEVCIntra(preset="medium"), EncodingCache()
    statuses = {}
    for scheme in f05.SCHEMES:
        images, uses, points = f05.transmit(scheme, profile, ids, imgs, mean, codec=codec, cache=cache)
        assert images.shape == (2, 2, 64, 64, 3) and images.dtype == np.uint8
        assert (uses <= budget).all() and (uses / (3 * 64 * 64) <= 0.1).all()
        for j, p in enumerate(points):
            statuses[scheme, p["snr_db"]] = p["status"]
            for i, st_ in enumerate(p["status"]):
                if p["mcs"] is None or st_ == "no_fit":
                    assert uses[j, i] == 0
                else:  # every codeword spent is counted, and they carry the stream and its CRC
                    assert uses[j, i] == p["codewords"][i] * p["symbols_per_codeword"] <= budget
                    assert p["codewords"][i] * p["k"] >= p["stream_bits"][i] + CRC_BITS
                    assert p["stream_bits"][i] <= p["budget_bits"]
                if st_ == "ok":
                    clean = codec.decode(cache.encode(codec, imgs[i], p["quality"][i]), (64, 64, 3))
                    assert np.array_equal(images[j, i], clean)
                else:
                    assert np.array_equal(images[j, i], np.rint(mean * 255).astype(np.uint8))
    assert statuses["separation_amc", 6.0] == ["ok", "ok"]  # AMC on the true SNR delivers
    assert statuses["separation_amc", -4.0] == ["no_fit", "no_fit"]  # below MCS 3 (lowest_mcs) nothing is sent
    assert "decode_failure" in statuses["separation_stale", 6.0]  # chosen for 8 dB, sent at 6: the cliff


def test_stage_writes_three_records(faces, tmp_path, monkeypatch):
    split = faces[0]
    monkeypatch.setattr(f05, "load", lambda ref=None: small_profile())
    monkeypatch.setenv("JSCC_PROGRESS", "0")
    partial = tmp_path / "partial"
    f05.main(["records", "--profile", "mini", "--data", MIRROR, "--split", str(split), "--out-dir", str(tmp_path),
              "--partial", str(partial)])
    assert not partial.exists()  # the finished points are dropped once the records are written
    for scheme in f05.SCHEMES:
        info, arrays = read_record(tmp_path / f"{scheme}.npz")
        assert info["scheme"] == scheme and info["rho_max"] <= 0.1 and arrays["images"].shape == (2, 2, 64, 64, 3)
        assert [p["estimate_db"] for p in info["points"]] == {"separation_amc": [6, -4], "separation_stale": [8, -2],
                                                              "separation_fixed": [2, 2]}[scheme]
        assert all(p["k"] <= 4096 and p["budget_bits"] == p["k"] - CRC_BITS for p in info["points"] if p["mcs"])
        assert any("CRC" in n for n in info["notes"]) and any("VTM" in n for n in info["notes"])
        # count = slice: the parameter sets (VPS 23 + SPS 42 + PPS 6 bytes) and the container are the receiver's
        assert any(n.startswith("charged: the coded slice NAL unit alone") and "64 px: 568 + 2464 bits" in n
                   for n in info["notes"])
        design = info["scale_design"]["by_mcs"]
        assert info["scale_design"]["scales"] == [1, 2, 4] and info["scale_design"]["faces"] == 4
        for p in info["points"]:
            if p["mcs"]:  # every face of a point is sent at its MCS's designed resolution, the best on the design
                d = design[p["mcs"]]
                assert p["scale"] == d["scale"]
                assert d["mean_psnr_db"][str(d["scale"])] == max(d["mean_psnr_db"].values())
                assert all(b <= d["budget_bits"] for b in p["stream_bits"])
    assert json.loads((tmp_path / "separation_stale.json").read_text())["label"].endswith("(SNR_AMC = SNR +2 dB)")


def test_bad_input_is_named(faces, tmp_path, monkeypatch, capsys):
    split = faces[0]

    def error(argv, match, **overrides):
        monkeypatch.setattr(f05, "load", lambda ref=None: small_profile(**overrides))
        with pytest.raises(SystemExit) as exc:
            f05.main(["records", "--data", MIRROR, "--out-dir", str(tmp_path), "--partial", str(tmp_path / "p")]
                     + argv)
        assert exc.value.code == 2
        assert match in capsys.readouterr().err

    error(["--split", str(tmp_path / "nope.json")], "nope.json: no such split file")
    error(["--split", str(split)], "stale_estimate_db has 3 values, dgm.fig05.snr_db 2",
          **{"dgm.fig05.separation.stale_estimate_db": [8, 6, 4]})
    assert not list(tmp_path.glob("*.npz"))  # nothing written on a bad input
    with pytest.raises(ProfileError, match="fixed_estimate_db"):
        small_profile(**{"dgm.fig05.separation.fixed_estimate_db": 100})

    class Unchecked(dict):  # a profile that skipped the schema: the stage still names the key
        name = "unchecked"

    with pytest.raises(ValueError, match=r"dgm.fig05.snr_db: 100 dB is not a valid SNR"):
        f05.snr_list(Unchecked({"dgm.fig05.snr_db": [6, 100]}), "dgm.fig05.snr_db")
    with pytest.raises(ValueError, match="dgm.fig05.snr_db is not set"):
        f05.snr_list(Unchecked(), "dgm.fig05.snr_db")


def test_an_interrupted_run_resumes_from_its_finished_points(faces, tmp_path, monkeypatch):
    split, ids, imgs, mean, _ = faces
    profile = small_profile()
    codec = HEVCIntra(preset="medium")
    partial = f05.Partial(tmp_path / "p", "fp1")
    first = f05.transmit("separation_fixed", profile, ids, imgs, mean, codec=codec, cache=EncodingCache(),
                         partial=partial)
    assert sorted(q.name for q in (tmp_path / "p").glob("*.npz")) == [f"separation_fixed_{j}.npz" for j in (0, 1)]

    def no_link(*args, **kwargs):
        raise AssertionError("a finished point was computed again")

    monkeypatch.setattr(f05, "evaluate_separation", no_link)
    again = f05.transmit("separation_fixed", profile, ids, imgs, mean, codec=codec, cache=EncodingCache(),
                         partial=f05.Partial(tmp_path / "p", "fp1"))
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1]) and first[2] == again[2]
    f05.Partial(tmp_path / "p", "fp2")  # another configuration: its points are set aside, none reused
    assert not list((tmp_path / "p").glob("*.npz")) and len(list((tmp_path / "p.fp1").glob("*.npz"))) == 2


def test_a_face_that_fits_an_mcs_below_rate_one_fifth_is_refused_by_name(faces):
    split, ids, imgs, mean, _ = faces
    wide = small_profile(**{"dgm.fig05.max_rho": 0.5, "dgm.fig05.snr_db": [-4],  # MCS2, k = 2316
                            "dgm.fig05.separation.lowest_mcs": 0})
    with pytest.raises(ValueError, match=r"separation_amc: at estimated SNR -4 dB AMC picks MCS[0-2] .* < 1/5"):
        f05.transmit("separation_amc", wide, ids[:1], imgs[:1], mean, codec=HEVCIntra(preset="medium"),
                     cache=EncodingCache())


def test_resolution_per_mcs_is_the_best_on_the_design_faces_and_the_faces_are_sent_at_it(faces):
    """The design picks, per MCS budget, the factor with the best mean PSNR after upsampling (lost
    faces count as the mean face); a point sends at that factor and the receiver shows 64 px."""
    split, ids, imgs, mean, _ = faces
    profile = small_profile(**{"dgm.fig05.max_rho": 0.02, "dgm.fig05.snr_db": [6]})
    table = f05.amc_table(BUDGET, 4096, 3)
    codec, cache = HEVCIntra(preset="medium"), EncodingCache()
    design_set = f05.design_faces(profile, split, MIRROR)[:4]
    mcs10 = next(m for m in table if f05.mcs_index(m) == 10)  # 301 stream bits: a 64-px face rarely fits
    design = f05.design_scales([mcs10], BUDGET, design_set, mean, codec=codec, scales=[1, 2, 4], count="slice",
                               cache=cache)[mcs10.name]
    assert design["budget_bits"] == 301 and set(design["mean_psnr_db"]) == {"1", "2", "4"}
    for f in (1, 2, 4):  # each factor's mean PSNR by hand: the rate-controlled stream within 301 slice bits
        shown, fits = [], 0
        for face in design_set:
            rc = fit_to_budget(Rescaled(codec, f), face, 301, count="slice", cache=cache)
            assert rc.bits == (8 * codec.slice_bytes(rc.data) if rc.fits else 0) <= 301
            fits += rc.fits
            shown.append(Rescaled(codec, f).decode(rc.data, face.shape) if rc.fits
                         else np.rint(mean * 255).astype(np.uint8))
        assert design["fits"][str(f)] == fits
        assert design["mean_psnr_db"][str(f)] == pytest.approx(
            float(f05.psnr(f05._as_tensor(design_set), f05._as_tensor(np.stack(shown))).mean()), abs=1e-3)
    best = max((1, 2, 4), key=lambda f: design["mean_psnr_db"][str(f)])
    assert design["scale"] == best
    with pytest.raises(ProfileError, match="scales"):
        small_profile(**{"dgm.fig05.separation.scales": [2, 2]})
    with pytest.raises(ValueError, match=r"dgm.fig05.separation.scales = \[2, 0\]"):  # schema skipped
        f05.scales_of({"dgm.fig05.separation.scales": [2, 0]})
