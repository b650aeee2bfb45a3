"""Fig. 5's NTSCC on the faces (pipelines/dgm/fig05_ntscc.py): a tiny NTC and NTSCC trained for two steps each on
32-px faces, then sent at two SNRs; the record counts the side information in every face's channel uses and
refuses a face the budget cannot hold."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from jscc_core.capacity import awgn_capacity
from pipelines.dgm.fig05_ntscc import main
from pipelines.dgm.fig05_record import read_record

REPO = Path(__file__).resolve().parent.parent
TINY = f"""extends: {REPO}/pipelines/profiles/mini.yaml
gjscc: {{image_size: 32}}
dgm:
  fig05:
    snr_db: [6, 0]
    max_rho: 0.06
    images: 3
    ntscc:
      ntc: {{c: 8, embed_dims: [8, 8, 8], depths: [1, 1, 1], heads: 2, window: 4, hyper_channels: 4, latent_std: 4.0}}
      jscc: {{d: 8, n_e: 1, n_d: 1, heads: 2, rate_values: [2, 4, 8, 16], shared_head: true, window: 4}}
      eta: [0.02, 8.0, 0.5]
      without_z: true
      train_snr_db: [0, 6]
      schedules:
        ntc: {{steps: 2, batch_size: 2, learning_rate: 1.0e-3, lr_final_ratio: 1.0, warmup_steps: 0,
              checkpoint_every: 1, log_every: 1, runtime_min: 1}}
        ntscc: {{steps: 2, batch_size: 2, learning_rate: 1.0e-3, lr_final_ratio: 1.0, warmup_steps: 0,
                checkpoint_every: 1, log_every: 1, runtime_min: 1}}
"""
K_Q_BITS = 2 * 16  # log2 |V| = 2 bits for each of y's 4 x 4 patches (32 px, 3 stages)


def _run(*argv):
    try:
        main(list(argv))
    except SystemExit as exc:
        if exc.code:
            raise


@pytest.fixture(scope="module")
def trained(tmp_path_factory, one_thread):
    mirror = Path(os.environ.get("JSCC_DATA_MIRROR", "/nonexistent"))
    if not (mirror / "faces_more").is_dir():
        pytest.skip("needs the UTKFace faces (faces_more) in the data mirror")
    from pipelines.gjscc.data import write_split
    from pipelines.profile import load

    root = tmp_path_factory.mktemp("fig05_ntscc")
    profile_path = root / "fig05_ntscc_tiny.yaml"
    profile_path.write_text(TINY)
    cwd = os.getcwd()
    os.chdir(root)  # checkpoints/ go here
    try:
        write_split(load(str(profile_path)), root / "split.json", mirror)
        from pipelines.dgm.fig05_record import test_faces

        np.save(root / "faces.npy", test_faces(load(str(profile_path)), root / "split.json", mirror)[1])
        common = ("--profile", str(profile_path), "--data", str(mirror), "--split", str(root / "split.json"))
        _run("train-ntc", *common, "--out", str(root / "models/ntscc_ntc"))
        _run("train-ntscc", *common, "--ntc", str(root / "models/ntscc_ntc"), "--out", str(root / "models/ntscc"))
        _run("evaluate", *common, "--model", str(root / "models/ntscc"), "--out", str(root / "ntscc.npz"))
        yield root, common
    finally:
        os.chdir(cwd)


def test_the_round_trip_writes_a_record_of_every_face_at_every_snr(trained):
    root, _ = trained
    info, arrays = read_record(root / "ntscc.npz")
    assert arrays["images"].shape == (2, 3, 32, 32, 3) and arrays["images"].dtype == np.uint8
    assert list(arrays["snr_db"]) == [6.0, 0.0] and len(set(arrays["ids"])) == 3
    assert info["scheme"] == "ntscc" and info["lambda"] == 256.0
    assert any("Wang et al., IEEE JSTSP 2023" in n and "Dai et al., IEEE JSAC 2022" in n for n in info["notes"])
    assert len(info["rho_mean_per_snr"]) == 2 and len(info["psnr_mean_per_snr"]) == 2
    assert "faces_more/faces_64.npz" in info["data_checksums"]
    assert json.loads((root / "models/ntscc/run.json").read_text())["kind"] == "ntscc"
    assert (root / "checkpoints/fig05_ntscc_tiny/dgm/fig05/ntscc/checkpoint.pt").is_file()


def test_every_face_counts_its_side_information_and_fits_the_budget(trained):
    root, _ = trained
    info, _ = read_record(root / "ntscc.npz")
    k = np.array(info["channel_uses"])
    k_y, k_z, k_q = (np.array(info[f"{p}_per_face"]) for p in ("k_y", "k_z", "k_q"))
    np.testing.assert_allclose(k, k_y + k_z + k_q, rtol=1e-6)
    capacity = np.array([awgn_capacity(s, "complex") for s in (6.0, 0.0)])[:, None]
    np.testing.assert_allclose(k_q, K_Q_BITS / capacity * np.ones_like(k_q), rtol=1e-5)
    assert (k_z > 0).all() and np.allclose((k_z * capacity) % 8, 0, atol=1e-3)  # whole bytes of z's bitstream
    assert k.max() / (3 * 32 * 32) <= 0.06 and info["rho_max"] <= 0.06


def test_each_face_goes_with_the_largest_eta_that_fits(trained):
    from pipelines.dgm.fig05_ntscc import load_model, send
    from pipelines.gjscc.common import as_tensor
    from pipelines.profile import load

    root, common = trained
    profile = load(common[1])
    info, arrays = read_record(root / "ntscc.npz")
    model, _ = load_model(profile, root / "models/ntscc")
    grid = [8.0, 0.5, 0.02]
    faces = as_tensor(np.load(root / "faces.npy"))
    budget = 0.06 * 3 * 32 * 32
    for j, snr in enumerate((6.0, 0.0)):
        for i in range(3):
            eta = info["eta_sent"][j][i]
            larger = [e for e in grid if e > eta]
            if larger:  # the next larger eta does not fit
                out, _, _ = send(model, faces[i:i + 1], snr, larger[-1:], budget, seed=0)
                assert float(out["k"][0]) > budget
            assert info["channel_uses"][j][i] <= budget
    assert len({e for row in info["eta_sent"] for e in row}) > 1  # the budget binds at one SNR, not the other


def test_a_face_that_cannot_carry_z_goes_without_it(trained):
    root, common = trained
    info, _ = read_record(root / "ntscc.npz")
    assert info["eta_sent"][1] == [0.02] * 3  # at 0 dB every face went with the smallest eta and z
    c0, c = awgn_capacity(0.0, "complex"), awgn_capacity(-2.0, "complex")
    k_y, z_bits = np.array(info["k_y_per_face"][1]), np.array(info["k_z_per_face"][1]) * c0
    least_with_z, most_without = (k_y + (K_Q_BITS + z_bits) / c).min(), (k_y + K_Q_BITS / c).max()
    assert most_without < least_with_z
    budget = float(least_with_z + most_without) / 2  # at -2 dB no face fits with z, every face without
    lean = root / "lean.yaml"
    lean.write_text(f"extends: {root}/fig05_ntscc_tiny.yaml\n"
                    f"dgm: {{fig05: {{snr_db: [-2], max_rho: {budget / (3 * 32 * 32)!r}}}}}\n")
    _run("evaluate", "--profile", str(lean), *common[2:], "--model", str(root / "models/ntscc"),
         "--out", str(root / "lean.npz"))
    info, _ = read_record(root / "lean.npz")
    assert info["z_sent"] == [[False, False, False]] and info["k_z_per_face"] == [[0.0, 0.0, 0.0]]
    np.testing.assert_allclose(info["k_q_per_face"][0], K_Q_BITS / c, rtol=1e-5)
    assert max(info["channel_uses"][0]) <= budget * (1 + 1e-9)


def test_a_face_the_budget_cannot_hold_is_refused_naming_it(trained, capsys):
    root, common = trained
    strict = root / "strict.yaml"
    strict.write_text(f"extends: {root}/fig05_ntscc_tiny.yaml\ndgm: {{fig05: {{snr_db: [-4], max_rho: 0.02}}}}\n")
    argv = ["evaluate", "--profile", str(strict), *common[2:], "--model", str(root / "models/ntscc"),
            "--out", str(root / "strict.npz")]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "ntscc: face faces_more_" in err and "at -4.0 dB" in err and "> 0.02" in err
    assert not (root / "strict.npz").exists()


def test_bad_inputs_are_named(trained, capsys):
    root, common = trained
    five = root / "five_stages.yaml"
    five.write_text(f"extends: {root}/fig05_ntscc_tiny.yaml\n"
                    "dgm: {fig05: {ntscc: {ntc: {embed_dims: [8, 8, 8, 8, 8], depths: [1, 1, 1, 1, 1]}}}}\n")
    cases = [
        (["train-ntscc", *common, "--ntc", str(root / "nowhere"), "--out", str(root / "x")], "nowhere/model.pt"),
        (["evaluate", *common, "--model", str(root / "models/ntscc_ntc"), "--out", str(root / "x.npz")],
         "'ntc' model, not the NTSCC"),
        (["evaluate", "--profile", str(five), *common[2:], "--model", str(root / "models/ntscc"), "--out",
          str(root / "x.npz")], "dgm.fig05.ntscc.ntc: 5 stages need images a multiple of 128 px"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        assert message in capsys.readouterr().err
