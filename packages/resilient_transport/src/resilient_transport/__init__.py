"""Packet-loss resilient image transmission (Dai et al., *Deep Generative Modeling Reshapes
Compression and Transmission*, 2024, Sec. III-B and Fig. 6): an ELIC-like transform pair
(g_a, g_s), scalar-quantised latent tokens, and one masked transformer with two heads -- a
3-component Gaussian-mixture entropy model and a regression of the latent that conceals tokens
whose packets were lost.  The bitstream is one range-coded stream per packet; packets are
interleaved token sets (docs/resilient_transport.md)."""
from resilient_transport.codec import DecodeReport, ResilientCodec
from resilient_transport.packets import CODING_MODES, PacketHeader

__all__ = ["CODING_MODES", "DecodeReport", "PacketHeader", "ResilientCodec"]
