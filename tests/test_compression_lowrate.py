"""Low-rate codecs for notebook 12's rate-distortion comparison at equal rate (course_lib.compression.mosaic_codec)."""
import pytest
import torch

from course_lib.compression import mosaic, mosaic_codec, unmosaic
from course_lib.metrics import psnr


def _images(n=40, c=1, size=28, seed=0):
    """Smooth random images (blurred noise plus a bright blob), like small garments: compressible but not trivial."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, c, size // 4, size // 4, generator=g)
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    blob = (1 - (xx ** 2 + yy ** 2)).clamp(0, 1)
    return (0.5 * x + 0.5 * blob).clamp(0, 1)


def test_unmosaic_inverts_mosaic_with_blank_cells():
    x = torch.rand(7, 3, 6, 5)
    tile = mosaic(x)                       # 3x3 cells, two blank
    assert torch.equal(unmosaic(tile, 7, 6, 5), x)
    with pytest.raises(ValueError, match="cannot hold"):
        unmosaic(tile, 10, 6, 5)


@pytest.mark.parametrize("codec, qualities", [("jpeg", (2, 30, 90)), ("webp", (0, 30, 90))])
def test_higher_quality_costs_more_bits_and_gives_higher_psnr(codec, qualities):
    x = _images()
    results = [mosaic_codec(x, codec, q) for q in qualities]
    bits = [b for b, _ in results]
    psnrs = [psnr(d, x) for _, d in results]
    assert bits == sorted(bits) and len(set(bits)) == len(bits), bits
    assert psnrs == sorted(psnrs), psnrs
    for _, d in results:
        assert d.shape == x.shape and d.dtype == torch.float32 and 0 <= float(d.min()) and float(d.max()) <= 1


def test_downsampling_reaches_rates_below_full_size_jpeg():
    """The reason these codecs exist: JPEG at quality 1 still spends bits on every 8x8 block; coding the image at
    half size goes lower."""
    x = _images(n=64)
    floor_jpeg, _ = mosaic_codec(x, "jpeg", 1)
    half_jpeg, dec = mosaic_codec(x, "jpeg", 5, downsample=2)
    quarter_webp, _ = mosaic_codec(x, "webp", 0, downsample=4)
    assert half_jpeg < floor_jpeg and quarter_webp < half_jpeg, (floor_jpeg, half_jpeg, quarter_webp)
    assert dec.shape == x.shape
    assert psnr(dec, x) > 15.0          # still an image of the same content, not noise


def test_colour_images_and_bits_are_per_image():
    x = _images(n=8, c=3, size=32)
    bits8, dec = mosaic_codec(x, "webp", 50, downsample=2)
    assert dec.shape == x.shape
    bits16, _ = mosaic_codec(torch.cat([x, x]), "webp", 50, downsample=2)
    assert bits16 < 1.2 * bits8            # divided by N: twice the images is not twice the bits per image


@pytest.mark.parametrize("kwargs, match", [
    (dict(codec="png", quality=50), "codec"),
    (dict(codec="jpeg", quality=0), "quality"),
    (dict(codec="webp", quality=101), "quality"),
    (dict(codec="jpeg", quality=50, downsample=3), "divisible"),
    (dict(codec="jpeg", quality=50, downsample=0), "positive"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mosaic_codec(_images(n=2), **kwargs)


def test_block_padding_keeps_tiles_inside_codec_blocks():
    """Review finding: 28-px tiles straddle JPEG's 8x8 and WebP's 16x16 blocks. With block=16 each tile is padded by
    edge replication to 32 px: the decoded images keep their size, the padding is paid for, and an image's pixels
    no longer share a block with its neighbour's."""
    x = _images(n=16)
    for codec, q in (("jpeg", 50), ("webp", 50)):
        bits_pad, dec_pad = mosaic_codec(x, codec, q, block=16)
        assert dec_pad.shape == x.shape and psnr(dec_pad, x) > 20.0
    half_bits, half = mosaic_codec(x, "webp", 50, downsample=2, block=16)     # 14 -> 16 px tiles
    assert half.shape == x.shape
    # a mosaic where one image is black and its neighbour white: with padding the black image stays black
    pair = torch.stack([torch.zeros(1, 28, 28), torch.ones(1, 28, 28)])
    _, dec = mosaic_codec(pair, "jpeg", 30, block=16)
    _, dec_unpadded = mosaic_codec(pair, "jpeg", 30)
    assert float(dec[0].max()) <= float(dec_unpadded[0].max())
    assert float(dec[0].max()) < 0.05
    with pytest.raises(ValueError, match="block"):
        mosaic_codec(x, "jpeg", 50, block=0)
