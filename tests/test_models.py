"""Tests of course_lib.models: shapes, output conventions, input validation, a tiny training step."""
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn

from course_lib.losses import elbo_terms
from course_lib.models import VAE, VQVAE, AutoEncoder, ConvDecoder, ConvEncoder, ResidualBlock, VAEOutput


class TinyQuantizer(nn.Module):
    """A stand-in with the course's quantizer interface (nearest code, straight-through, vq loss)."""

    def __init__(self, num_codes=8, code_dim=4):
        super().__init__()
        self.num_codes, self.code_dim = num_codes, code_dim
        self.codebook = nn.Parameter(torch.randn(num_codes, code_dim))

    def forward(self, z):
        B, D, H, W = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, D)
        idx = torch.cdist(flat, self.codebook).argmin(1)
        q = self.codebook[idx].view(B, H, W, D).permute(0, 3, 1, 2)
        loss = ((q - z.detach()) ** 2).mean() + 0.25 * ((z - q.detach()) ** 2).mean()
        return SimpleNamespace(z_q=z + (q - z).detach(), indices=idx.view(B, H, W), loss=loss)

    def lookup(self, indices):
        return self.codebook[indices].permute(0, 3, 1, 2)


def _quantizer(num_codes=8, code_dim=4):
    try:
        from course_lib.quantize import VectorQuantizer

        return VectorQuantizer(num_codes=num_codes, code_dim=code_dim)
    except ImportError:
        return TinyQuantizer(num_codes, code_dim)


def test_autoencoder_shapes():
    ae = AutoEncoder(in_channels=1, image_size=28, latent_dim=2, hidden=8)
    x = torch.rand(3, 1, 28, 28)
    z = ae.encode(x)
    assert z.shape == (3, 2)
    assert ae(x).shape == x.shape
    assert ae.decode(z).shape == x.shape


def test_vae_shapes_and_sample():
    torch.manual_seed(0)
    vae = VAE(in_channels=3, image_size=32, latent_dim=5, hidden=8)
    x = torch.rand(2, 3, 32, 32)
    out = vae(x)
    assert isinstance(out, VAEOutput)
    assert out.x_logits.shape == x.shape
    assert out.mu.shape == out.logvar.shape == out.z.shape == (2, 5)
    mu, logvar = vae.encode(x)
    assert torch.allclose(mu, out.mu)
    s = vae.sample(4)
    assert s.shape == (4, 3, 32, 32) and s.min() >= 0 and s.max() <= 1


def test_vae_trains_one_step():
    torch.manual_seed(0)
    vae = VAE(hidden=8, latent_dim=2)
    opt = torch.optim.Adam(vae.parameters(), lr=1e-2)
    x = (torch.rand(16, 1, 28, 28) > 0.5).float()
    losses = []
    for _ in range(5):
        out = vae(x)
        loss = elbo_terms(x, out.x_logits, out.mu, out.logvar)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_small_models_validate_input():
    with pytest.raises(ValueError, match="divisible by 4"):
        VAE(image_size=30)
    vae = VAE(hidden=4)
    with pytest.raises(ValueError, match="channel"):
        vae(torch.rand(2, 3, 28, 28))
    with pytest.raises(ValueError, match="28x28"):
        vae(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match="unsqueeze"):
        vae(torch.rand(1, 28, 28))
    with pytest.raises(ValueError, match="permute"):
        AutoEncoder(in_channels=3, image_size=8, hidden=4)(torch.rand(2, 8, 8, 3))
    with pytest.raises(ValueError, match=r"\(B, 2\)"):
        vae.decode(torch.zeros(3, 4))


def test_residual_block_and_conv_encoder_decoder():
    rb = ResidualBlock(6, hidden=3)
    x = torch.randn(2, 6, 5, 5)
    assert rb(x).shape == x.shape
    enc = ConvEncoder(in_channels=3, hidden=8, out_channels=5, downsamples=3, res_blocks=1)
    z = enc(torch.rand(2, 3, 32, 32))
    assert z.shape == (2, 5, 4, 4)
    dec = ConvDecoder(in_channels=5, hidden=8, out_channels=3, upsamples=3, res_blocks=1)
    assert dec(z).shape == (2, 3, 32, 32)
    assert ConvDecoder(in_channels=5, hidden=8, out_channels=2, upsamples=0, res_blocks=0)(z).shape == (2, 2, 4, 4)
    with pytest.raises(ValueError, match="divisible by 8"):
        enc(torch.rand(2, 3, 28, 28))


def test_vqvae_forward_encode_decode():
    torch.manual_seed(0)
    q = _quantizer(num_codes=8, code_dim=4)
    model = VQVAE(q, in_channels=1, hidden=8, downsamples=2, res_blocks=1)
    x = torch.rand(2, 1, 28, 28)
    out = model(x)
    assert out.x_hat.shape == x.shape
    assert out.z_e.shape == (2, 4, 7, 7)
    assert out.vq.indices.shape == (2, 7, 7)
    assert model.latent_shape(28) == (7, 7)
    assert model.latent_shape((32, 16)) == (8, 4)
    idx = model.encode(x)
    assert idx.dtype == torch.int64 and idx.shape == (2, 7, 7)
    assert torch.equal(idx, out.vq.indices)
    with torch.no_grad():
        assert torch.allclose(model.decode_indices(idx), out.x_hat, atol=1e-5)
    # gradients reach the encoder through the straight-through estimator
    loss = ((out.x_hat - x) ** 2).mean() + out.vq.loss
    loss.backward()
    assert model.encoder.net[0].weight.grad.abs().sum() > 0
    assert model.decoder.net[0].weight.grad.abs().sum() > 0


def test_vqvae_validates():
    q = _quantizer(num_codes=8, code_dim=4)
    model = VQVAE(q, in_channels=1, hidden=8, downsamples=2, res_blocks=0)
    with pytest.raises(ValueError, match="divisible by 4"):
        model(torch.rand(1, 1, 30, 30))
    with pytest.raises(ValueError, match="channel"):
        model(torch.rand(1, 3, 28, 28))
    with pytest.raises(ValueError, match="divisible"):
        model.latent_shape(30)
    with pytest.raises(ValueError, match=r"\(B, h, w\)"):
        model.decode_indices(torch.zeros(7, 7, dtype=torch.long))
    with pytest.raises(TypeError, match="code_dim"):
        VQVAE(nn.Identity())


def test_vqvae_has_no_two_linear_1x1_convolutions_in_a_row():
    """Issue 11: the encoder's last 1x1 convolution followed by pre_quant (another 1x1) with no nonlinearity
    between them is one linear map written twice. The encoder now ends in a ReLU; pre_quant is the only 1x1."""
    model = VQVAE(_quantizer(num_codes=8, code_dim=4), in_channels=1, hidden=8, downsamples=2, res_blocks=2)
    layers = list(model.encoder.net) + [model.pre_quant]
    assert isinstance(layers[-2], nn.ReLU)
    for a, b in zip(layers, layers[1:]):
        both_1x1 = all(isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) for m in (a, b))
        assert not both_1x1
    assert ConvEncoder(1, hidden=8, out_channels=None, downsamples=2, res_blocks=1)(torch.rand(2, 1, 8, 8)).shape == (2, 8, 2, 2)
    # a ReLU follows the 3x3 convolution, as in the Sonnet example's encoder
    convs3 = [i for i, m in enumerate(model.encoder.net) if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert isinstance(model.encoder.net[convs3[0] + 1], nn.ReLU)


def test_res_hidden_sets_the_inner_width_of_the_residual_blocks():
    model = VQVAE(_quantizer(num_codes=8, code_dim=4), in_channels=3, hidden=16, downsamples=2, res_blocks=2, res_hidden=4)
    blocks = [m for m in model.modules() if isinstance(m, ResidualBlock)]
    assert len(blocks) == 4 and all(b.block[1].out_channels == 4 and b.block[3].in_channels == 4 for b in blocks)
    assert model(torch.rand(1, 3, 16, 16)).x_hat.shape == (1, 3, 16, 16)


def test_encode_in_train_mode_moves_an_ema_codebook_and_eval_mode_does_not():
    """The warning in the VQVAE docstring, measured."""
    from course_lib.quantize import EMAVectorQuantizer
    torch.manual_seed(0)
    model = VQVAE(EMAVectorQuantizer(8, 4, decay=0.5), in_channels=1, hidden=8, downsamples=2, res_blocks=0)
    x = torch.rand(4, 1, 8, 8)
    before = model.quantizer.codebook.clone()
    model.eval()
    model.encode(x)
    assert torch.equal(model.quantizer.codebook, before)
    model.train()
    model.encode(x)
    assert not torch.equal(model.quantizer.codebook, before)


# ------------------------------------------------------------------ notebook 04: the student's functions as a layer
def test_vq_from_functions_trains_like_the_ema_quantizer():
    """Built from the reference functions, VQFromFunctions has EMAVectorQuantizer's state dict and start, and makes
    the same lookups, codebook updates and encoder gradients step after step; eval mode leaves the codebook alone."""
    from course_lib.checks.vqvae import reference_vq_layer
    from course_lib.models import VQFromFunctions
    from course_lib.quantize import EMAVectorQuantizer, ema_update

    torch.manual_seed(0)
    lib = EMAVectorQuantizer(16, 4, beta=0.25, decay=0.9)
    torch.manual_seed(0)
    own = VQFromFunctions(reference_vq_layer, ema_update, 16, 4, beta=0.25, decay=0.9)
    assert own.state_dict().keys() == lib.state_dict().keys()
    assert all(torch.equal(v, own.state_dict()[k]) for k, v in lib.state_dict().items())
    z = torch.randn(3, 4, 5, 5, requires_grad=True)
    for _ in range(3):
        a, b = lib.train()(z), own.train()(z)
        assert torch.equal(a.indices, b.indices) and torch.allclose(a.z_q, b.z_q)
        assert torch.allclose(lib.embed, own.embed, atol=1e-6)
    ga, = torch.autograd.grad(a.loss, z)
    gb, = torch.autograd.grad(b.loss, z)
    assert torch.allclose(ga, gb, atol=1e-6)  # the codebook term has no gradient: only beta * commitment
    frozen = own.embed.clone()
    own.eval()(z)
    assert torch.equal(frozen, own.embed)
    model = VQVAE(own, in_channels=1, hidden=8, res_blocks=0)
    idx = model.eval().encode(torch.rand(2, 1, 8, 8))
    assert model.decode_indices(idx).shape == (2, 1, 8, 8)


def test_vq_from_functions_reports_bad_input():
    from course_lib.models import VQFromFunctions

    with pytest.raises(TypeError, match="two functions"):
        VQFromFunctions(None, None, 4, 2)
    q = VQFromFunctions(lambda z, e, b: None, lambda *a: None, 4, 2)
    with pytest.raises(ValueError, match=r"\(B, 2, h, w\)"):
        q(torch.randn(5, 2))
