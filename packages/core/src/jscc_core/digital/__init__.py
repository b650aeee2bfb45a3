"""Digital separation baselines: image codecs and per-image rate control.

The separation scheme of every JSCC paper compresses each image with a standard codec to the
largest bitstream that fits a bit budget (e.g. channel capacity times channel uses), then sends
it with a channel code. ``codecs`` holds the codecs behind one small interface
(:class:`~jscc_core.digital.codecs.ImageCodec`): HEVC intra through pillow-heif / x265, the
project's BPG stand-in (BPG is HEVC intra in its own container; figures call it
"HEVC-intra (x265), BPG-class"), and JPEG2000 through Pillow / OpenJPEG. Undecodable bitstreams
raise :class:`~jscc_core.digital.codecs.CorruptBitstreamError`, which callers count as a lost
image. ``rate_control`` finds, per image, the highest codec quality whose bitstream fits the
budget (:func:`~jscc_core.digital.rate_control.fit_to_budget`). ``erasure`` protects a bitstream
sent as packets with inter-packet Reed-Solomon FEC (docs/packet_loss.md). Submodules are imported on use
so that ``import jscc_core.digital`` stays light.
"""
