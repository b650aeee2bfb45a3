"""Digital separation baselines: HEVC-intra (BPG-class) and JPEG2000 codecs, rate control.

Natural-image tests read Kodak from the data mirror (JSCC_DATA_MIRROR) and skip without it;
the rest run on a synthetic image. Everything works on small crops to stay fast.
"""

import math

import numpy as np
import pytest

from jscc_core.digital.codecs import (
    CODEC_NAMES,
    JPEG2000,
    CorruptBitstreamError,
    HEVCIntra,
    ImageCodec,
    Rescaled,
    _child,
    get_codec,
)
from jscc_core.digital.rate_control import EncodingCache, RateControlResult, counted_bytes, encode_many, fit_to_budget
from kodak_images import kodak_crop


def psnr(x: np.ndarray, y: np.ndarray) -> float:
    mse = np.mean((x.astype(np.float64) - y.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def synthetic_image(h: int = 96, w: int = 112, seed: int = 0) -> np.ndarray:
    """Smooth gradients, a sinusoidal texture, a sharp-edged square and mild noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 120 + 80 * np.sin(x / 9.0) * np.cos(y / 13.0)
    g = 60 + 150 * x / w
    b = 200 - 140 * y / h
    img = np.stack([r, g, b], axis=-1)
    img[h // 4: h // 2, w // 3: w // 2] = (240, 30, 90)
    img += rng.normal(0, 4, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def natural():
    return kodak_crop(23, 100, 300)  # parrots: smooth background, feathers, edges


@pytest.fixture(scope="module")
def synthetic():
    return synthetic_image()


# Three qualities per codec, low to high (HEVC: QP 41, 28, 15).
LADDER = {"hevc": (10, 23, 36), "hevc420": (10, 23, 36), "jpeg2000": (45, 60, 75)}


# ------------------------------------------------------------------ codecs


def test_registry():
    assert CODEC_NAMES == ("hevc", "hevc420", "jpeg2000")
    assert get_codec("hevc") == HEVCIntra(chroma="444")
    assert get_codec("hevc420") == HEVCIntra(chroma="420")
    assert get_codec("jpeg2000") == JPEG2000()
    for name in CODEC_NAMES:
        codec = get_codec(name)
        assert isinstance(codec, ImageCodec) and codec.name == name
    assert get_codec("hevc").label == "HEVC-intra (x265), BPG-class"
    assert get_codec("hevc", preset="medium").preset == "medium"
    with pytest.raises(ValueError, match="unknown codec 'bpg'"):
        get_codec("bpg")
    with pytest.raises(ValueError):
        HEVCIntra(chroma="422")
    with pytest.raises(ValueError):
        HEVCIntra(preset="fastest")


@pytest.mark.parametrize("name", CODEC_NAMES)
def test_round_trip_psnr_rises_with_quality(name, natural):
    codec = get_codec(name)
    sizes, scores = [], []
    for q in LADDER[name]:
        data = codec.encode(natural, q)
        out = codec.decode(data, natural.shape)
        assert out.shape == natural.shape and out.dtype == np.uint8
        sizes.append(len(data))
        scores.append(psnr(natural, out))
    assert sizes == sorted(sizes) and len(set(sizes)) == 3, sizes
    assert scores[0] < scores[1] < scores[2], scores
    assert scores[0] > 24, scores  # a real reconstruction, not noise


@pytest.mark.parametrize("name", CODEC_NAMES)
def test_encoding_is_deterministic(name, synthetic):
    q = LADDER[name][1]
    first = get_codec(name).encode(synthetic, q)
    assert get_codec(name).encode(synthetic, q) == first  # fresh instance, same bytes
    assert get_codec(name).encode(np.asfortranarray(synthetic), q) == first  # memory layout is irrelevant
    assert get_codec(name).encode(synthetic, LADDER[name][2]) != first


@pytest.mark.parametrize("name", CODEC_NAMES)
@pytest.mark.parametrize("shape", [(37, 53, 3), (1, 1, 3), (17, 200, 3)])
def test_odd_and_tiny_shapes_round_trip(name, shape):
    img = synthetic_image(*shape[:2], seed=1)
    codec = get_codec(name)
    out = codec.decode(codec.encode(img, codec.quality_range[1]), shape[:2])
    assert out.shape == shape
    assert psnr(img, out) > 30


def test_input_validation(synthetic):
    codec = get_codec("jpeg2000")
    with pytest.raises(ValueError):
        codec.encode(synthetic.astype(np.float32), 50)
    with pytest.raises(ValueError):
        codec.encode(synthetic[..., 0], 50)
    with pytest.raises(ValueError):
        codec.encode(synthetic, 101)
    with pytest.raises(TypeError):
        codec.encode(synthetic, 50.0)


def test_hevc_quality_is_51_minus_qp_and_every_level_is_distinct(synthetic):
    codec = get_codec("hevc")
    assert codec.quality_range == (0, 51)
    assert codec.qp(23) == 28  # BPG's default -q 28
    assert codec.enc_params(23)["x265:qp"] == "28"
    small = synthetic[:64, :64]
    sizes = [len(codec.encode(small, q)) for q in range(0, 52, 3)]
    assert all(a < b for a, b in zip(sizes, sizes[1:])), sizes


def test_hevc_payload_excludes_the_heif_container(synthetic):
    codec = get_codec("hevc")
    overheads, payloads = set(), []
    for q in (5, 30):
        data = codec.encode(synthetic, q)
        payload = codec.payload_bytes(data)
        assert 0 < payload < len(data)
        overheads.add(len(data) - payload)
        payloads.append(payload)
    assert payloads[0] < payloads[1]
    (overhead,) = overheads  # the container does not depend on the coded picture
    assert 100 < overhead < 600, overhead
    assert get_codec("jpeg2000").payload_bytes(b"abc") == 3
    with pytest.raises(CorruptBitstreamError):
        codec.payload_bytes(b"not a heif file")


def test_hevc_slice_is_the_file_tail_after_parameter_sets_that_do_not_change(synthetic):
    """count="slice": the coded slice NAL unit(s) are the file's tail; the rest (HEIF boxes,
    hvcC with VPS/SPS/PPS, the NAL length field) is the same for every image of one size and
    every quality, up to the length fields that the stream length fixes."""
    codec = HEVCIntra(preset="medium")
    small = synthetic[:32, :32]
    other = synthetic_image(32, 32, seed=5)[::-1].copy()
    heads = {}
    for name, img in (("a", small), ("b", other)):
        for q in (0, 20):
            data = codec.encode(img, q)
            n = codec.slice_bytes(data)
            sets, nal_units, mdat_end = codec._nal_layout(data)
            assert len(nal_units) == 1 and mdat_end == len(data)  # x265: one slice, mdat last
            start, size = nal_units[0]
            assert n == size == len(data) - start and codec.payload_bytes(data) == n + sum(sets)
            assert (data[start] >> 1) & 0x3F in (19, 20)  # an IDR slice segment NAL unit
            head, tail = data[:-n], data[-n:]
            assert np.array_equal(codec.decode(head + tail, img.shape), codec.decode(data, img.shape))
            # what the receiver holds: the header; its only fields that depend on the stream are the
            # 4-byte lengths the receiver knows from n: iloc's extent (n + 4, the box's last field),
            # the mdat box size (n + 12) and the NAL length (n). Zeroed, the header is the same for
            # every image of the size and every quality.
            meta = _child(head, 0, len(head), b"meta")
            iloc_end = _child(head, meta[0] + 4, meta[1], b"iloc")[1]
            windows = {iloc_end - 4: n + 4, len(head) - 12: n + 12, len(head) - 4: n}
            masked = bytearray(head)
            for at, value in windows.items():
                assert head[at:at + 4] == value.to_bytes(4, "big")
                masked[at:at + 4] = bytes(4)
            heads[name, q] = bytes(masked)
    assert len(set(heads.values())) == 1
    assert counted_bytes(codec, data, "slice") == codec.slice_bytes(data) < counted_bytes(codec, data, "payload")
    with pytest.raises(CorruptBitstreamError):
        codec.slice_bytes(b"not a heif file")
    with pytest.raises(ValueError, match="count='slice' is HEVC-only"):
        get_codec("jpeg2000").slice_bytes(get_codec("jpeg2000").encode(small, 50))
    with pytest.raises(ValueError, match="count must be one of 'file', 'payload', 'slice', got 'nal'"):
        counted_bytes(codec, data, "nal")


def test_rescaled_codes_a_smaller_picture_and_decodes_to_full_size(synthetic):
    hevc = HEVCIntra(preset="medium")
    img = synthetic[:64, :64]
    half = Rescaled(hevc, 2)
    assert half.name == "hevc_down2" and Rescaled(hevc, 1).name == "hevc" and "1/2 size" in half.label
    assert half.key != Rescaled(hevc, 4).key != hevc.key  # caches keep the factors apart
    small = half.downsample(img)
    assert small.shape == (32, 32, 3)
    assert np.allclose(small, img.reshape(32, 2, 32, 2, 3).mean(axis=(1, 3)), atol=1)  # area averaging
    data = half.encode(img, 30)
    assert data == hevc.encode(small, 30) and half.slice_bytes(data) == hevc.slice_bytes(data)
    out = half.decode(data, img.shape)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert psnr(img, out) > 20 and psnr(img, out) < psnr(img, hevc.decode(hevc.encode(img, 30), img.shape))
    assert np.array_equal(Rescaled(hevc, 1).decode(hevc.encode(img, 30), img.shape),
                          hevc.decode(hevc.encode(img, 30), img.shape))
    assert hevc.slice_bytes(Rescaled(hevc, 4).encode(img, 10)) < hevc.slice_bytes(hevc.encode(img, 10))
    with pytest.raises(ValueError, match="60x60 is not a multiple of the factor 8"):
        Rescaled(hevc, 8).encode(img[:60, :60], 10)
    with pytest.raises(ValueError, match="factor must be an int >= 1, got 0"):
        Rescaled(hevc, 0)
    with pytest.raises(CorruptBitstreamError):
        half.decode(data[:-5], img.shape)


def test_hevc_10_bit(natural):
    c8, c10 = get_codec("hevc"), get_codec("hevc", bit_depth=10)
    assert c10.label == "HEVC-intra (x265, 10-bit), BPG-class"
    d8, d10 = c8.encode(natural, 40), c10.encode(natural, 40)
    out = c10.decode(d10, natural.shape)
    assert out.dtype == np.uint8 and out.shape == natural.shape
    assert psnr(natural, out) > psnr(natural, c8.decode(d8, natural.shape))  # less YCbCr rounding


def test_jpeg2000_quality_mapping_and_no_comment_marker(synthetic):
    codec = get_codec("jpeg2000")
    assert codec.compression_ratio(100) == 1.0
    assert codec.target_bpp(92) == pytest.approx(12.0)
    data = codec.encode(synthetic, 60)
    assert data[:2] == b"\xff\x4f" and data[-2:] == b"\xff\xd9"  # raw codestream SOC ... EOC
    assert b"OpenJPEG" not in data and b"\xff\x64" not in data[:200]  # COM marker stripped
    kept = JPEG2000(strip_comment=False).encode(synthetic, 60)
    assert b"Created by OpenJPEG" in kept and len(kept) > len(data)
    assert np.array_equal(codec.decode(kept, synthetic.shape), codec.decode(data, synthetic.shape))
    bits = 8 * len(data)
    assert bits <= 1.05 * codec.target_bpp(60) * synthetic.shape[0] * synthetic.shape[1]


# ------------------------------------------------------------------ corrupt bitstreams


def _damaged_streams(data: bytes, seed: int):
    rng = np.random.default_rng(seed)
    yield "empty", b""
    for cut in (1, 2, 8, 16, 40, len(data) // 3, len(data) // 2, len(data) - 10, len(data) - 1):
        yield f"truncated to {cut}", data[:cut]
    for n in (1, 7, 64, 500, len(data)):
        yield f"{n} random bytes", rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    yield "zeros", bytes(len(data))
    yield "header garbled", bytes(b ^ 0xFF for b in data[:24]) + data[24:]


@pytest.mark.parametrize("name", CODEC_NAMES)
def test_damaged_bitstreams_raise_corrupt_bitstream_error(name, synthetic):
    codec = get_codec(name)
    data = codec.encode(synthetic, LADDER[name][1])
    for what, damaged in _damaged_streams(data, seed=3):
        with pytest.raises(CorruptBitstreamError) as info:
            codec.decode(damaged, synthetic.shape)
        assert info.value.codec == name and info.value.reason, what
    with pytest.raises(CorruptBitstreamError, match="expected 95x112"):
        codec.decode(data, (95, 112))  # a stream for another image size
    with pytest.raises(CorruptBitstreamError):
        codec.decode(bytearray(data[:-1]), synthetic.shape)


@pytest.mark.parametrize("name", CODEC_NAMES)
def test_bit_flips_never_escape_as_other_errors(name, synthetic):
    """Flipped bits either decode (no checksum catches them) or raise CorruptBitstreamError."""
    codec = get_codec(name)
    data = codec.encode(synthetic, LADDER[name][1])
    rng = np.random.default_rng(7)
    outcomes = {"decoded": 0, "corrupt": 0}
    for _ in range(60):
        damaged = bytearray(data)
        for pos in rng.integers(0, len(data), size=int(rng.integers(1, 9))):
            damaged[pos] ^= 1 << int(rng.integers(0, 8))
        try:
            out = codec.decode(bytes(damaged), synthetic.shape)
        except CorruptBitstreamError:
            outcomes["corrupt"] += 1
        else:
            assert out.shape == synthetic.shape and out.dtype == np.uint8
            outcomes["decoded"] += 1
    assert outcomes["corrupt"] > 0, outcomes


def test_corrupt_bitstream_error_pickles():
    import pickle

    err = pickle.loads(pickle.dumps(CorruptBitstreamError("hevc", "truncated")))
    assert isinstance(err, CorruptBitstreamError) and (err.codec, err.reason) == ("hevc", "truncated")


# ------------------------------------------------------------------ rate control


class TableCodec(ImageCodec):
    """A fake codec whose stream at quality q is `sizes[q]` bytes: tests the search logic."""

    def __init__(self, sizes):
        self.sizes = list(sizes)
        self.calls = 0

    name = "table"
    label = "table"

    @property
    def quality_range(self):
        return (0, len(self.sizes) - 1)

    @property
    def key(self):
        return f"table{self.sizes}"

    def encode(self, image, quality):
        self.calls += 1
        return bytes([quality % 256]) * self.sizes[self.check_quality(quality)]

    def decode(self, data, shape):
        raise AssertionError("the rate controller never decodes")


def exhaustive_best(sizes_bits, budget):
    fitting = [q for q, bits in enumerate(sizes_bits) if bits <= budget]
    return max(fitting) if fitting else None


def test_rate_control_matches_exhaustive_search_on_monotone_tables(synthetic):
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 52, 101):
        sizes = np.cumsum(rng.integers(0, 40, n)) + 10  # non-decreasing, with ties
        budgets = np.unique(np.concatenate([8 * sizes - 1, 8 * sizes, 8 * sizes + 3, [0, 79, 1e9]]))
        for budget in budgets:
            codec = TableCodec(sizes)
            res = fit_to_budget(codec, synthetic, budget)
            assert res.quality == exhaustive_best(8 * sizes, budget)
            assert res.fits == (res.quality is not None)
            if res.fits:
                assert res.bits <= budget and res.bits == 8 * sizes[res.quality] == 8 * len(res.data)
            # ceil(log2(n + 1)) bisection steps + 1 local-search encode
            assert codec.calls == res.encodes <= math.ceil(math.log2(n + 1)) + 1


def test_rate_control_survives_non_monotone_rates(synthetic):
    rng = np.random.default_rng(1)
    for _ in range(300):
        sizes = np.cumsum(rng.integers(-15, 40, 40)) + 600  # dips in the rate curve
        budget = float(rng.uniform(8 * sizes.min() - 100, 8 * sizes.max() + 100))
        res = fit_to_budget(TableCodec(sizes), synthetic, budget)
        if res.fits:
            assert res.bits <= budget and 8 * sizes[res.quality] == res.bits
        else:
            assert 8 * sizes[0] > budget and res.data is None
    # An isolated dip just above the first failing quality is found by the local search.
    sizes = [10, 20, 30, 40, 41, 39, 50, 60, 70]  # bisection meets 41 first, stops at 3
    res = fit_to_budget(TableCodec(sizes), synthetic, 8 * 40)
    assert res.quality == 5
    assert fit_to_budget(TableCodec(sizes), synthetic, 8 * 40, local_search=0).quality == 3


@pytest.mark.parametrize("name", ["hevc", "jpeg2000"])
def test_rate_control_never_exceeds_budget(name, natural):
    codec = get_codec(name)
    img = natural[:96, :96]
    cache = EncodingCache()
    all_bits = [8 * len(cache.encode(codec, img, q)) for q in codec.qualities]  # exhaustive reference
    monotone = all(a <= b for a, b in zip(all_bits, all_bits[1:]))
    budgets = np.geomspace(0.5 * min(all_bits), 1.2 * max(all_bits), 60)
    previous = -1
    for budget in budgets:
        res = fit_to_budget(codec, img, budget, cache=cache)
        if not res.fits:
            assert budget < min(all_bits) and res.data is None and res.quality is None
            assert res.min_bits == min(all_bits) > budget and res.bits == 0
            continue
        assert res.bits <= budget and res.bits == 8 * len(res.data)
        assert res.quality >= previous  # a larger budget never buys a lower quality
        previous = res.quality
        if monotone:
            assert res.quality == exhaustive_best(all_bits, budget)
    assert previous == codec.quality_range[1]  # the largest budget fits the best quality
    assert len(cache) == len(all_bits)  # every stream came from the cache: no re-encoding


@pytest.mark.parametrize("name", ["hevc", "jpeg2000"])
def test_rate_control_chosen_stream_decodes_and_counts_few_encodes(name, natural):
    codec = get_codec(name)
    budget = 8 * 1500
    res = fit_to_budget(codec, natural, budget)
    assert isinstance(res, RateControlResult) and res.fits and res.bits <= budget
    assert res.encodes <= math.ceil(math.log2(len(codec.qualities) + 1)) + 1
    out = codec.decode(res.data, natural.shape)
    assert psnr(natural, out) > 30
    assert res.bits > 0.8 * budget  # the next quality step would not have fitted: little waste


def test_rate_control_impossible_budget(synthetic):
    for name in CODEC_NAMES:
        res = fit_to_budget(get_codec(name), synthetic, 8)
        assert not res.fits and res.quality is None and res.data is None
        assert res.bits == 0 and res.min_bits > 8
    with pytest.raises(ValueError):
        fit_to_budget(get_codec("jpeg2000"), synthetic, -1)
    with pytest.raises(ValueError):
        fit_to_budget(get_codec("jpeg2000"), synthetic, float("nan"))
    with pytest.raises(ValueError):
        fit_to_budget(get_codec("jpeg2000"), synthetic, 1000, count="container")


def test_slice_counting_fits_more_hevc_quality_than_payload_counting(synthetic):
    codec = HEVCIntra(preset="medium")
    img = synthetic[:32, :32]
    budget = 8 * (codec.payload_bytes(codec.encode(img, 0)) + 20)
    by_payload = fit_to_budget(codec, img, budget, count="payload")
    by_slice = fit_to_budget(codec, img, budget, count="slice")
    assert by_slice.bits <= budget and by_slice.bits == 8 * codec.slice_bytes(by_slice.data)
    assert by_slice.quality > by_payload.quality and by_slice.count == "slice"
    with pytest.raises(ValueError, match="HEVC-only"):
        fit_to_budget(get_codec("jpeg2000"), img, 4000, count="slice")


def test_payload_counting_fits_more_hevc_quality_than_file_counting(synthetic):
    codec = get_codec("hevc")
    budget = 8 * 700
    by_file = fit_to_budget(codec, synthetic, budget)
    by_payload = fit_to_budget(codec, synthetic, budget, count="payload")
    assert by_payload.bits <= budget and by_payload.bits == 8 * codec.payload_bytes(by_payload.data)
    assert by_payload.quality > by_file.quality
    assert len(by_payload.data) * 8 > budget  # the file itself is larger: container not charged


def test_encode_many_sequential_and_process_pool_agree():
    images = [synthetic_image(48, 64, seed=s) for s in range(3)]
    codec = get_codec("jpeg2000")
    seq = encode_many(codec, images, [4000, 8000, 16000])
    assert [r.bits <= b for r, b in zip(seq, [4000, 8000, 16000])] == [True] * 3
    assert seq[0].quality < seq[1].quality < seq[2].quality
    par = encode_many(codec, images, [4000, 8000, 16000], workers=2)
    assert [(r.quality, r.data) for r in par] == [(r.quality, r.data) for r in seq]
    same = encode_many(codec, images, 8000)  # one budget for all
    assert same[1] == seq[1]
    with pytest.raises(ValueError):
        encode_many(codec, images, [1000, 2000])


def test_hevc_444_beats_jpeg2000_at_equal_budget():
    """Sanity check of the BPG-class claim at mid rates (0.5-3.5 bpp on 128x128 crops).

    Counted as whole files (HEIF boxes included). JPEG2000 gets the best quality that fits the
    bits HEVC spent. Not asserted: at high rates (>~4 bpp, HEVC quality >= 41) JPEG2000 wins by
    ~0.5-1 dB on these crops (8-bit YCbCr rounding caps HEVC 4:4:4), and at very low rates on
    small crops HEVC's 308-byte HEIF container decides.
    """
    hevc, j2k = get_codec("hevc"), get_codec("jpeg2000")
    for img in (kodak_crop(1, 200, 200), kodak_crop(5, 0, 0)):
        for q in (23, 33):  # QP 28 (BPG's default) and QP 18
            data = hevc.encode(img, q)
            p_hevc = psnr(img, hevc.decode(data, img.shape))
            res = fit_to_budget(j2k, img, 8 * len(data))
            p_j2k = psnr(img, j2k.decode(res.data, img.shape))
            assert p_hevc > p_j2k + 0.5, (q, p_hevc, p_j2k)


def test_jpeg2000_codes_ycbcr_not_rgb(natural):
    """Pillow's default mct=0 codes R, G, B separately; the codec must use the colour transform."""
    import io

    from PIL import Image

    codec = get_codec("jpeg2000")
    ours = codec.decode(codec.encode(natural, 60), natural.shape)
    buf = io.BytesIO()
    Image.fromarray(natural).save(buf, format="JPEG2000", no_jp2=True, quality_mode="rates",
                                  quality_layers=[codec.compression_ratio(60)], irreversible=True, mct=0)
    rgb = codec.decode(buf.getvalue(), natural.shape)
    assert psnr(natural, ours) > psnr(natural, rgb) + 1.0
