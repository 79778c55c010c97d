"""Network blocks shared by every model: MLPs for vectors, DCGAN-style conv nets for images."""

from aegan.nets.conv import ConvDecoder, ConvEncoder
from aegan.nets.mlp import MLP

__all__ = ["MLP", "ConvDecoder", "ConvEncoder", "build_decoder", "build_encoder"]


def build_encoder(shape: tuple[int, ...], out_dim: int, width: int, depth: int):
    """x (N, *shape) -> (N, out_dim): an encoder, a discriminator (out_dim = 1) or a critic body."""
    if len(shape) == 1:
        return MLP(shape[0], out_dim, width, depth)
    return ConvEncoder(shape, out_dim, width)


def build_decoder(latent_dim: int, shape: tuple[int, ...], width: int, depth: int, stem_norm: bool = True):
    """z (N, latent_dim) -> x (N, *shape): a generator / decoder; images end in tanh ([-1, 1]). `stem_norm=False`
    for the decoder of an encoder model (ConvDecoder says why)."""
    if len(shape) == 1:
        return MLP(latent_dim, shape[0], width, depth)
    return ConvDecoder(latent_dim, shape, width, stem_norm)
