"""Per-image separation baselines: "HEVC (BPG-class) + 5G LDPC" and "+ capacity" (NTSCC Sec. V-A).

Kodak crops come from the data mirror (JSCC_DATA_MIRROR); the tests skip without it.
96x96 crops at bandwidth ratio 1/4 give k = 6912 complex uses: 4 codewords of 16-QAM 2/3 or
one of QPSK 1/2 per image.
"""

import math

import numpy as np
import pytest
import torch

pytest.importorskip("sionna.phy")
pytest.importorskip("pillow_heif")

from jscc_core.digital import ldpc, separation
from jscc_core.digital.abstraction import clopper_pearson, image_loss_probability, measure_bler
from jscc_core.digital.codecs import get_codec
from jscc_core.digital.mcs import AWGN_ENVELOPE, snr_threshold_db
from jscc_core.digital.rate_control import EncodingCache
from jscc_core.digital.separation import (
    CRC_BITS,
    ImageResult,
    channel_uses_budget,
    cliff,
    envelope,
    evaluate_separation,
    frame_bits,
    mcs_frame_budget,
    mcs_short_name,
    mean_colour,
    parse_mcs,
    read_image_results_csv,
    select_for_snr_estimate,
    summarize,
    write_image_results_csv,
)
from jscc_core.metrics import ms_ssim, psnr
from kodak_images import kodak, kodak_crop

RHO = 0.25  # 96x96 crops: k = 6912 complex channel uses
QAM16 = parse_mcs("16qam-2/3")
QPSK12 = parse_mcs("qpsk-1/2")


def crop(index, top, left, size=96):
    return kodak_crop(index, top, left, size)


def metrics(x, y):
    def to_t(a):
        return torch.from_numpy(np.array(a)).permute(2, 0, 1)[None].float() / 255

    return float(psnr(to_t(x), to_t(y))[0]), float(ms_ssim(to_t(x), to_t(y))[0])


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def crops():
    return {"kodim23": crop(23, 100, 300), "kodim01": crop(1, 200, 200), "kodim15": crop(15, 100, 300)}


@pytest.fixture(scope="module")
def cache():
    return EncodingCache()


@pytest.fixture(scope="module")
def exact(crops, cache):
    """Two MCSs, exact link, far below / at / far above 16-QAM 2/3's waterfall."""
    fb = mean_colour(crops)
    res = evaluate_separation(crops, codec="hevc", snr_db=[-5.0, 4.0, 20.0], bandwidth_ratio=RHO,
                              mcs=[QAM16, QPSK12], mode="exact", seed=3, fallback=fb, cache=cache,
                              progress=False)
    return res, fb


def test_budget_framing_and_names():
    assert channel_uses_budget((96, 96, 3), RHO) == 6912
    assert channel_uses_budget((512, 768), 1 / 16) == 73728
    assert channel_uses_budget((96, 96), 0.1) == 2764  # floor(2764.8)
    assert mcs_frame_budget(6912, QAM16) == (4, 4 * 4096 - CRC_BITS)  # 4 x 1536 uses <= 6912
    assert mcs_frame_budget(6912, QPSK12) == (1, 4096 - CRC_BITS)
    assert mcs_frame_budget(1000, QAM16) == (0, 0)
    stream = bytes([0xFF, 0x01]) * 300  # 4800 bits + 24 CRC bits -> 2 codewords
    frame = frame_bits(stream, 4096)
    assert frame.shape == (2, 4096) and frame.dtype == np.uint8
    flat = frame.reshape(-1)
    assert np.packbits(flat[:4800]).tobytes() == stream and not flat[4800:].any()
    assert frame_bits(bytes(509), 4096).shape == (1, 4096)  # 4072 + 24 = 4096 exactly
    assert frame_bits(bytes(510), 4096).shape == (2, 4096)
    assert parse_mcs("16QAM 2/3") is QAM16 and QAM16 in AWGN_ENVELOPE and QAM16.n == 6144
    assert parse_mcs("4qam_1/2") is QPSK12 and parse_mcs("ntscc").n == 6144
    assert parse_mcs("mcs16").bits_per_symbol == 4
    for bad in ("8psk-1/2", "16qam", "mcs99"):
        with pytest.raises(ValueError):
            parse_mcs(bad)
    with pytest.raises(ValueError, match="bandwidth_ratio"):
        channel_uses_budget((96, 96), 0.0)


def test_short_codes_by_information_block_size():
    """CIFAR-10's 32x32 budgets need short codewords: "16qam-2/3/k168" is a (252, 168) code, 63 uses."""
    short = parse_mcs("16qam-2/3/k168")
    assert (short.bits_per_symbol, short.k, short.n, short.num_symbols) == (4, 168, 252, 63)
    assert short.name == "16QAM 2/3 k=168" and short not in AWGN_ENVELOPE
    for name in ("16QAM 2/3 k=168", "16qam_2/3_k168", short.name, mcs_short_name(short)):
        assert parse_mcs(name) == short
    assert mcs_short_name(short) == "16qam-2/3/k168" and mcs_short_name(QAM16) == "16qam-2/3"
    assert parse_mcs("16qam-2/3/k4096") is QAM16  # the default size is the envelope's own code
    assert parse_mcs("qpsk-1/3/k512").n == 1536
    assert mcs_frame_budget(64, short) == (1, 168 - CRC_BITS)  # CBR 1/48 of a 32x32 image: one codeword
    assert mcs_frame_budget(768, short) == (12, 12 * 168 - CRC_BITS)
    for bad in ("16qam-2/3/k8", "16qam-2/3/k9000", "16qam-2/3/kx"):
        with pytest.raises(ValueError):
            parse_mcs(bad)
    # a shorter block needs more SNR (measured BLER 0.1 at 9.64 dB for k = 168, 8.93 dB for k = 4096)
    assert 9.2 < snr_threshold_db(short) < 9.7 and snr_threshold_db(QAM16) == pytest.approx(8.93)


def test_capacity_bound(crops, cache):
    snrs = [0.0, 5.0, 10.0]
    res = evaluate_separation(crops, codec="hevc", snr_db=snrs, bandwidth_ratio=RHO, mcs="capacity",
                              cache=cache, progress=False)
    assert len(res) == len(snrs) * len(crops)
    for r in res:
        assert r.mcs == "capacity" and r.status == "ok" and r.codewords == 0
        assert r.budget_bits == pytest.approx(6912 * math.log2(1 + 10 ** (r.snr_db / 10)), rel=1e-13, abs=0)
        assert r.channel_uses_spent == r.channel_uses_budget == 6912
        assert 0 < r.stream_bits <= r.budget_bits
    by_snr = {d["snr_db"]: d["mean_psnr"] for d in summarize(res)}
    assert by_snr[0.0] < by_snr[5.0] < by_snr[10.0]
    for image_id in crops:  # per image too: a larger budget never lowers the quality
        q = [r.quality for r in res if r.image_id == image_id]
        p = [r.psnr for r in res if r.image_id == image_id]
        assert q == sorted(q) and p[0] < p[-1]


def test_exact_high_snr_lossless_channel_low_snr_cliff(exact, crops):
    res, fb = exact
    assert len(res) == 3 * 2 * len(crops)  # one row per image x SNR x MCS
    assert {(r.image_id, r.snr_db, r.mcs) for r in res} == {
        (i, s, m.name) for i in crops for s in (-5.0, 4.0, 20.0) for m in (QAM16, QPSK12)}
    codec = get_codec("hevc")
    fallback = np.rint(np.asarray(fb) * 255).astype(np.uint8)
    for r in res:
        img = crops[r.image_id]
        assert r.channel_uses_spent <= r.channel_uses_budget == 6912
        assert r.budget_bits == mcs_frame_budget(6912, parse_mcs(r.mcs))[1]
        assert r.codewords == math.ceil((r.stream_bits + CRC_BITS) / 4096)
        assert r.channel_uses_spent == r.codewords * parse_mcs(r.mcs).num_symbols
        if r.snr_db == 20.0:
            assert r.status == "ok" and r.failed_codewords == 0
            clean = codec.decode(codec.encode(img, r.quality), img.shape)
            assert (r.psnr, r.ms_ssim) == pytest.approx(metrics(img, clean), abs=1e-5)
        if r.snr_db == -5.0:
            assert r.status == "decode_failure" and r.failed_codewords == r.codewords > 0
            assert (r.psnr, r.ms_ssim) == pytest.approx(metrics(img, np.broadcast_to(fallback, img.shape)), abs=1e-5)
    # 4 codewords of 16-QAM carry a better stream than 1 of QPSK when both get through
    hi = {(r.image_id, r.mcs): r for r in res if r.snr_db == 20.0}
    for i in crops:
        assert hi[i, QAM16.name].quality > hi[i, QPSK12.name].quality
        assert hi[i, QAM16.name].codewords > 1 and hi[i, QPSK12.name].codewords == 1


def test_lists_dicts_and_determinism(crops, cache):
    imgs = list(crops.values())[:2]
    kw = dict(codec="hevc", snr_db=8.8, bandwidth_ratio=RHO, mcs=QAM16, seed=11, cache=cache, progress=False)
    a = evaluate_separation(imgs, **kw)
    b = evaluate_separation(imgs, **kw)
    assert [r.image_id for r in a] == ["0", "1"] and a == b
    # adding an SNR point does not change the others (seeds derived per point)
    c = evaluate_separation(imgs, **{**kw, "snr_db": [20.0, 8.8]})
    assert c[2:] == a


def test_source_coding_in_processes_gives_the_same_results(crops):
    kw = dict(codec="hevc", snr_db=[4.0, 9.0], bandwidth_ratio=RHO, mcs=[QPSK12, "capacity"], seed=5, progress=False)
    sequential = evaluate_separation(crops, **kw)
    assert evaluate_separation(crops, workers=2, **kw) == sequential
    with pytest.raises(ValueError, match="workers must be >= 1"):
        evaluate_separation(crops, workers=0, **kw)


def test_tiny_budget_is_no_fit(crops, cache):
    img = {"kodim23": crops["kodim23"]}
    # rho = 0.02: k = 552 uses, no 16-QAM codeword (1536 uses) and 552 bits < the HEIF file
    res = evaluate_separation(img, codec="hevc", snr_db=[0.0, 10.0], bandwidth_ratio=0.02,
                              mcs=[QAM16, "capacity"], mode="exact", cache=cache, progress=False)
    grey = metrics(img["kodim23"], np.full((96, 96, 3), 128, np.uint8))
    assert len(res) == 4
    for r in res:
        assert r.status == "no_fit" and r.quality is None and r.stream_bits == 0
        assert r.channel_uses_spent == 0 and r.codewords == 0 and r.channel_uses_budget == 552
        assert (r.psnr, r.ms_ssim) == pytest.approx(grey, abs=1e-5)


def test_corrupted_stream_is_counted_not_crashed(crops, cache, monkeypatch):
    """Bits flipped in a delivered stream while the link reports success: corrupt_stream or damaged."""
    clean = evaluate_separation(crops, codec="hevc", snr_db=20.0, bandwidth_ratio=RHO, mcs=QAM16,
                                cache=cache, progress=False)
    start_1 = clean[0].codewords  # frame of image 1 starts after image 0's codewords
    tail = clean[1].stream_bits - 8 * 20  # a bit of image 1's coded slice data (end of the file)
    real_link_for = ldpc.link_for

    class FlippingLink:
        def __init__(self, link):
            self.link = link

        def encode(self, bits):
            return self.link.encode(bits)

        def __call__(self, bits, snr_db, generator=None, codewords=None):
            res = self.link(bits, snr_db, generator=generator, codewords=codewords)
            out = res.bits.clone()
            out[0, 0:32] = 1 - out[0, 0:32]  # image 0: HEIF box size and 'ftyp' destroyed
            row, col = start_1 + tail // 4096, tail % 4096
            out[row, col] = 1 - out[row, col]  # image 1: one bit of slice data
            return res._replace(bits=out)  # success stays True: an undetected error

    monkeypatch.setattr(ldpc, "link_for", lambda mcs, num_iter=20: FlippingLink(real_link_for(mcs, num_iter)))
    res = evaluate_separation(crops, codec="hevc", snr_db=20.0, bandwidth_ratio=RHO, mcs=QAM16,
                              cache=cache, progress=False)
    assert res[0].status == "corrupt_stream" and res[0].failed_codewords == 0
    grey = metrics(crops["kodim23"], np.full((96, 96, 3), 128, np.uint8))
    assert res[0].psnr == pytest.approx(grey[0], abs=1e-5)
    assert res[1].status in ("ok", "corrupt_stream") and res[1].psnr != clean[1].psnr
    assert res[2] == clean[2]


def _tiles(index, size, n):
    img = kodak(index)
    return [np.ascontiguousarray(img[r:r + size, c:c + size])
            for r in range(0, img.shape[0] - size + 1, size) for c in range(0, img.shape[1] - size + 1, size)][:n]


def test_abstraction_agrees_with_exact_near_waterfall(cache):
    """16-QAM 2/3 in the waterfall: 2 codewords per 64x64 image, 150 independent transmissions."""
    tiles = _tiles(23, 64, 3) + _tiles(1, 64, 3)
    images = {f"t{t}-{rep}": tile for t, tile in enumerate(tiles) for rep in range(25)}
    snr = 8.75
    table = measure_bler(QAM16, [snr], n_codewords=600, seed=7)
    kw = dict(codec="hevc", snr_db=snr, bandwidth_ratio=RHO, mcs=QAM16, cache=cache, progress=False)
    ex = evaluate_separation(images, mode="exact", seed=1, **kw)
    ab = [r for s in range(4) for r in evaluate_separation(images, mode="abstraction", bler_tables=table, seed=s, **kw)]
    assert all(r.codewords == 2 for r in ex + ab)
    bler = table.bler(snr)
    predicted = float(np.mean([image_loss_probability(bler, r.codewords) for r in ex]))
    assert 0.2 < predicted < 0.8  # near the waterfall: losses are neither rare nor certain
    n_ex, n_ab = sum(r.lost for r in ex), sum(r.lost for r in ab)
    assert {r.status for r in ex + ab} == {"ok", "decode_failure"}
    ex_iv, ab_iv = clopper_pearson(n_ex, len(ex), 0.99), clopper_pearson(n_ab, len(ab), 0.99)
    lo, hi = (float(image_loss_probability(p, 2)) for p in table.interval(snr, 0.99))
    assert ex_iv[0] <= hi and lo <= ex_iv[1], (n_ex, len(ex), lo, hi)  # exact vs the table's prediction
    assert ab_iv[0] <= predicted <= ab_iv[1], (n_ab, len(ab), predicted)  # abstraction draws the prediction
    assert ex_iv[0] <= ab_iv[1] and ab_iv[0] <= ex_iv[1]  # exact vs abstraction
    # a lost image is lost whole: its failed codewords are counted, its PSNR is the fallback's
    for r in ex:
        assert (r.failed_codewords > 0) == r.lost


def test_envelope_picks_best_mcs_per_snr(exact):
    res, _ = exact
    env = envelope(res)
    chosen = {r.snr_db: r.mcs for r in env}
    assert len(env) == 3 * 3 and all(sum(r.snr_db == s for r in env) == 3 for s in chosen)
    assert chosen[4.0] == QPSK12.name  # 16-QAM 2/3 is below its waterfall at 4 dB, QPSK 1/2 is not
    assert chosen[20.0] == QAM16.name  # both get through: 4 codewords beat 1
    means = defaultdict_means(res)
    for s, m in chosen.items():
        assert means[s, m] == max(v for (s2, _), v in means.items() if s2 == s)
    with_cap = env + [ImageResult("x", "hevc", "capacity", "ideal", 4.0, RHO, 6912, 6912, 1e5, 1, 50, 0, 0,
                                  "ok", 99.0, 1.0)]
    assert envelope(with_cap) == env  # the capacity bound is not an MCS of the envelope
    ms = {r.snr_db: r.mcs for r in envelope(res, metric="ms_ssim")}
    assert ms[4.0] == QPSK12.name


def defaultdict_means(res):
    return {(d["snr_db"], d["mcs"]): d["mean_psnr"] for d in summarize(res)}


def test_cliff_and_mcs_for_an_estimated_snr(exact):
    res, _ = exact
    c = cliff([r for r in res if r.mcs == QAM16.name])
    assert c.snr_db == (-5.0, 4.0, 20.0) and c.loss_rate == (1.0, 1.0, 0.0)
    assert c.cliff_snr_db == pytest.approx(12.0) and c.max_drop_db > 10
    q = cliff([r for r in res if r.mcs == QPSK12.name])
    assert q.loss_rate == (1.0, 0.0, 0.0) and -5.0 < q.cliff_snr_db < 4.0
    with pytest.raises(ValueError, match="one"):
        cliff(res)
    # Fig. 12(c): the MCS is chosen for the estimated SNR and kept when the actual SNR falls
    m = select_for_snr_estimate(10.0, AWGN_ENVELOPE)
    assert m is QAM16 and snr_threshold_db(m) <= 10.0
    assert select_for_snr_estimate(12.0, AWGN_ENVELOPE).bits_per_symbol == 6
    assert select_for_snr_estimate(3.0, AWGN_ENVELOPE) is QPSK12  # QPSK 2/3 needs ~3.6 dB
    optimistic = {x.name: 0.0 for x in AWGN_ENVELOPE}  # caller's thresholds replace the rule
    assert select_for_snr_estimate(3.0, AWGN_ENVELOPE, thresholds=optimistic).bits_per_symbol == 6
    with pytest.raises(ValueError, match="no MCS"):
        select_for_snr_estimate(-10.0, AWGN_ENVELOPE)


def test_csv_round_trip_and_cli(exact, crops, tmp_path, capsys):
    res, _ = exact
    path = write_image_results_csv(res, tmp_path / "res.csv")
    assert read_image_results_csv(path) == res
    header = path.read_text().splitlines()[0].split(",")
    assert header[:4] == ["image_id", "codec", "mcs", "mode"] and "status" in header and "ms_ssim" in header

    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in ("kodim23", "kodim01"):
        Image.fromarray(crops[name]).save(folder / f"{name}.png")
    out = tmp_path / "cli.csv"
    cli = separation.main(["--images", str(folder), "--snr", "-5", "20", "--ratio", str(RHO), "--mcs", "16qam-2/3",
                           "capacity", "--out", str(out), "--quiet", "--seed", "3"])
    text = capsys.readouterr().out
    assert "capacity" in text and "16QAM 2/3" in text and "loss" in text
    rows = read_image_results_csv(out)
    assert rows == cli and len(rows) == 2 * 2 * 2
    assert {r.image_id for r in rows} == {"kodim01", "kodim23"}
    assert {(r.snr_db, r.status) for r in rows if r.mcs == QAM16.name} == {(-5.0, "decode_failure"), (20.0, "ok")}

    def error(args, match):
        with pytest.raises(SystemExit) as exc:
            separation.main(args)
        assert exc.value.code == 2
        assert match in capsys.readouterr().err

    base = ["--images", str(folder), "--snr", "10"]
    error(["--images", str(tmp_path / "nope"), "--snr", "10"], "no such folder")
    error(base + ["--codec", "bpg"], "invalid choice")
    error(base + ["--mcs", "32qam-1/2"], "unknown MCS")
    error(["--images", str(folder), "--snr", "100"], "100 dB is not a valid channel SNR")
    error(base + ["--ratio", "0"], "bandwidth ratio must be > 0")
    error(base + ["--mode", "abstraction"], "needs a --bler-table")
    empty = tmp_path / "empty"
    empty.mkdir()
    error(["--images", str(empty), "--snr", "10"], "no images")
    (empty / "broken.png").write_bytes(b"not a png" * 20)
    error(["--images", str(empty), "--snr", "10"], "broken.png is not a readable image")


def test_fallback_image_is_what_a_lost_image_shows(crops, cache):
    """A per-pixel fallback image (e.g. a data set's mean face) replaces every lost image."""
    imgs = {k: crops[k] for k in ("kodim23", "kodim01")}
    mean_face = np.mean([v.astype(float) for v in imgs.values()], axis=0) / 255.0
    res = evaluate_separation(imgs, codec="hevc", snr_db=[-5.0, 20.0], bandwidth_ratio=RHO, mcs=QPSK12,
                              mode="exact", seed=3, fallback=mean_face, cache=cache, progress=False)
    shown = np.rint(mean_face * 255).astype(np.uint8)
    assert {(r.snr_db, r.status) for r in res} == {(-5.0, "decode_failure"), (20.0, "ok")}
    for r in res:
        if r.lost:
            assert (r.psnr, r.ms_ssim) == pytest.approx(metrics(imgs[r.image_id], shown), abs=1e-5)
    with pytest.raises(ValueError, match=r"fallback image is \(48, 48, 3\), image kodim23 is \(96, 96, 3\)"):
        evaluate_separation(imgs, codec="hevc", snr_db=0.0, bandwidth_ratio=RHO, mcs=QPSK12,
                            fallback=mean_face[:48, :48], progress=False)
    with pytest.raises(ValueError, match="fallback image must be"):
        separation._fallback_rgb(mean_face * 2)
    with pytest.raises(ValueError, match="an \\(H, W, 3\\) image"):
        separation._fallback_rgb(np.zeros((4, 3)))


def test_no_link_is_built_when_nothing_is_sent(crops, cache):
    """TS 38.214 MCS 0 (R < 1/5) has no exact link; with no stream that fits, every image is no_fit."""
    from jscc_core.digital.mcs import ts38214_mcs

    img = {"kodim23": crops["kodim23"]}
    mcs0 = ts38214_mcs(0, k=40)  # 40 information bits: no HEVC stream fits
    res = evaluate_separation(img, codec="hevc", snr_db=[0.0, 4.0], bandwidth_ratio=RHO, mcs=mcs0,
                              mode="exact", cache=cache, progress=False)
    assert [(r.status, r.channel_uses_spent, r.codewords) for r in res] == [("no_fit", 0, 0)] * 2
    flat = {"flat": np.full((96, 96, 3), 128, np.uint8)}  # a stream that fits needs the link, which refuses
    with pytest.raises(ValueError, match="coderate"):
        evaluate_separation(flat, codec="hevc", snr_db=0.0, bandwidth_ratio=RHO, mcs=ts38214_mcs(0, k=1600),
                            mode="exact", count="payload", cache=cache, progress=False)


def test_slice_count_sends_the_slice_and_the_receiver_reassembles_the_file(monkeypatch):
    """count="slice": the sent bytes are the file's tail holding the slice NAL unit; the receiver
    puts the header it holds (container, parameter sets, length fields) before them and decodes
    the original file."""
    from jscc_core.digital.codecs import HEVCIntra
    from jscc_core.digital.mcs import ts38214_mcs

    mcs9 = ts38214_mcs(9, k=1600)  # QPSK, R = 679/1024: 1207 symbols within the 2764 of rho = 0.1

    y, x = np.mgrid[0:96, 0:96]
    img = np.stack([120 + 60 * np.sin(x / 7.0), 40 + x, 200 - y], axis=-1).astype(np.uint8)
    codec, cache, seen = HEVCIntra(preset="medium"), EncodingCache(), []
    receive = separation._Receiver.receive

    def spy(self, i, quality, sent, received):
        seen.append((quality, sent, received))
        return receive(self, i, quality, sent, received)

    monkeypatch.setattr(separation._Receiver, "receive", spy)
    by = {count: evaluate_separation({"x": img}, codec=codec, snr_db=20.0, bandwidth_ratio=0.1, mcs=mcs9,
                                     mode="exact", count=count, cache=cache, progress=False)[0]
          for count in ("payload", "slice")}
    r = by["slice"]
    data = cache.encode(codec, img, r.quality)
    assert r.status == "ok" and r.stream_bits == 8 * codec.slice_bytes(data)
    assert r.codewords == -(-(r.stream_bits + CRC_BITS) // mcs9.k)  # only the slice and its CRC are framed
    assert r.quality > by["payload"].quality  # the parameter sets' bits go to the picture instead
    quality, reassembled, received = seen[-1]
    assert quality == r.quality and reassembled == received == data  # header + sent tail == the file
    shown = codec.decode(reassembled, img.shape)
    assert (r.psnr, r.ms_ssim) == pytest.approx(metrics(img, shown), abs=1e-5)
    with pytest.raises(ValueError, match="HEVC-only"):
        evaluate_separation({"x": img}, codec="jpeg2000", snr_db=20.0, bandwidth_ratio=0.1, mcs=mcs9,
                            count="slice", progress=False)


def test_an_lpips_function_fills_its_column_once_per_shown_image(crops, cache, tmp_path):
    """lpips(x, y) of what the receiver shows (decoded stream or fallback), cached like PSNR; the
    column reads back from the CSV, and a CSV written without it reads as None."""
    calls = []

    def fake_lpips(x, y):  # a number that depends on the shown image: its mean absolute error
        calls.append(1)
        return float(np.abs(x.astype(float) - y.astype(float)).mean())

    img = {"kodim23": crops["kodim23"]}
    res = evaluate_separation(img, codec="hevc", snr_db=[5.0, 10.0], bandwidth_ratio=[0.02, RHO],
                              mcs=[QAM16, "capacity"], mode="exact", cache=cache, progress=False, lpips=fake_lpips)
    lost = [r for r in res if r.status == "no_fit"]
    shown = [r for r in res if r.status == "ok"]
    assert lost and shown and all(r.lpips_alex is not None for r in res)
    assert fake_lpips(img["kodim23"], np.full((96, 96, 3), 128, np.uint8)) == pytest.approx(lost[0].lpips_alex)
    assert len({r.lpips_alex for r in lost}) == 1 and len(calls) <= 1 + len({(r.quality, r.mcs) for r in shown}) + 1
    assert summarize(res)[0]["mean_lpips_alex"] == pytest.approx(np.mean([r.lpips_alex for r in res[:1]]))
    path = write_image_results_csv(res, tmp_path / "sweep.csv")
    assert read_image_results_csv(path) == res
    old = tmp_path / "old.csv"  # a sweep run without LPIPS, before the column existed
    lines = path.read_text().splitlines()
    old.write_text("\n".join(",".join(line.split(",")[:-1]) for line in lines) + "\n")
    assert all(r.lpips_alex is None for r in read_image_results_csv(old))
    assert math.isnan(summarize(read_image_results_csv(old))[0]["mean_lpips_alex"])
