"""course_lib.maskgit: the masked-token model, its loss, one decoding step and iterative completion."""
import math

import pytest
import torch

from course_lib.maskgit import (MaskedTokenModel, cosine_schedule, masked_decode_step, masked_token_loss,
                                maskgit_complete, random_box_masks)


def test_cosine_schedule_endpoints_and_monotone():
    assert cosine_schedule(0.0) == pytest.approx(1.0) and cosine_schedule(1.0) == pytest.approx(0.0, abs=1e-12)
    r = torch.linspace(0, 1, 11)
    g = cosine_schedule(r)
    assert torch.all(g[1:] < g[:-1]) and g[5] == pytest.approx(math.cos(math.pi / 4))


def test_model_is_bidirectional_and_checks_inputs():
    torch.manual_seed(0)
    m = MaskedTokenModel(num_codes=5, seq_len=6, d_model=16, n_layers=1, n_heads=2).eval()
    t = torch.randint(0, 5, (2, 6))
    out = m(t)
    assert out.shape == (2, 6, 5)
    t2 = t.clone()
    t2[:, -1] = m.mask_id                                             # change the LAST token only
    assert not torch.allclose(m(t2)[:, 0], out[:, 0])                # ... and the FIRST position's logits move
    with pytest.raises(ValueError):
        m(torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(ValueError):
        m(torch.full((2, 6), 6))


def test_loss_counts_only_masked_positions():
    torch.manual_seed(0)
    m = MaskedTokenModel(num_codes=4, seq_len=8, d_model=16, n_layers=1, n_heads=2)
    t = torch.randint(0, 4, (16, 8))
    loss, mask = masked_token_loss(m, t, generator=torch.Generator().manual_seed(0))
    assert loss.ndim == 0 and math.isfinite(loss.item())
    assert mask.shape == t.shape and mask.dtype == torch.bool and bool((mask.sum(1) >= 1).all())
    assert loss.item() == pytest.approx(math.log(4), abs=0.2)       # near-uniform predictions at init
    loss.backward()
    assert m.tok_emb.weight.grad[m.mask_id].abs().sum() > 0           # [MASK] was used in the input
    # the same generator gives the same masks, so the same loss
    a = masked_token_loss(m, t, generator=torch.Generator().manual_seed(3))
    b = masked_token_loss(m, t, generator=torch.Generator().manual_seed(3))
    assert a.loss.item() == b.loss.item() and torch.equal(a.mask, b.mask)


def test_loss_is_the_cross_entropy_at_the_masked_positions_only():
    """Recompute the loss by hand from the returned mask: the model saw [MASK] exactly there, and only there do the
    targets count."""
    torch.manual_seed(0)
    m = MaskedTokenModel(num_codes=5, seq_len=9, d_model=16, n_layers=1, n_heads=2).eval()
    t = torch.randint(0, 5, (64, 9))
    loss, mask = masked_token_loss(m, t, generator=torch.Generator().manual_seed(1))
    logits = m(t.masked_fill(mask, m.mask_id))
    assert torch.allclose(loss, torch.nn.functional.cross_entropy(logits[mask], t[mask]))
    assert not torch.allclose(loss, torch.nn.functional.cross_entropy(logits.reshape(-1, 5), t.reshape(-1)))


def test_masked_counts_follow_the_cosine_schedule():
    """The number masked per row is ceil(cos(pi r / 2) T) for r ~ U(0, 1): its distribution function is
    P(count <= k) = 1 - (2 / pi) acos(k / T); the counts differ between rows (one r per image)."""
    T = 7
    m = MaskedTokenModel(num_codes=3, seq_len=T, d_model=8, n_layers=1, n_heads=2)
    _, mask = masked_token_loss(m, torch.zeros(4000, T, dtype=torch.long), generator=torch.Generator().manual_seed(0))
    counts = mask.sum(1)
    emp = torch.stack([(counts <= k).double().mean() for k in range(1, T + 1)])
    exact = torch.tensor([1 - 2 / math.pi * math.acos(k / T) for k in range(1, T + 1)], dtype=torch.float64)
    assert float((emp - exact).abs().max()) < 0.03
    assert float(mask.double().mean(0).std()) < 0.02                   # every position equally likely


def test_decode_step_keeps_most_confident_and_leaves_known():
    logits = torch.tensor([[[0.0, 5.0], [3.0, 0.0], [9.0, 0.0], [0.0, 1.0]]])      # (1, 4, 2)
    tokens = torch.tensor([[2, 2, 1, 2]])                                            # position 2 is known
    mask = torch.tensor([[True, True, False, True]])
    tok, m = masked_decode_step(logits, tokens, mask, 2)
    assert tok.tolist() == [[1, 0, 1, 2]]                             # the two most confident: positions 0 and 1
    assert m.tolist() == [[False, False, False, True]]
    tok, m = masked_decode_step(logits, tokens, mask, torch.tensor([10]))            # more than are masked
    assert tok.tolist() == [[1, 0, 1, 1]] and not m.any()


def test_complete_fills_holes_keeps_known_and_uses_context_after_the_hole():
    """Sequences whose codes are all equal: a trained masked model fills a hole at the START from the codes after
    it (which a raster-order model cannot see)."""
    torch.manual_seed(0)
    K, T = 6, 8
    m = MaskedTokenModel(num_codes=K, seq_len=T, d_model=32, n_layers=2, n_heads=4)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(150):
        t = torch.randint(0, K, (64, 1), generator=g).expand(64, T)
        loss = masked_token_loss(m, t, generator=g).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    truth = torch.arange(K).repeat_interleave(2)[:, None].expand(-1, T)             # (12, T)
    known = torch.ones_like(truth, dtype=torch.bool)
    known[:, :3] = False                                                            # the hole is the start
    filled = maskgit_complete(m, truth.masked_fill(~known, 0), known, steps=4)
    assert torch.equal(filled[known], truth[known])
    assert float((filled == truth).float().mean()) > 0.95


def test_complete_rejects_a_step_that_never_unmasks():
    m = MaskedTokenModel(num_codes=3, seq_len=4, d_model=8, n_layers=1, n_heads=2)
    known = torch.tensor([[True, False, False, True]])
    with pytest.raises(RuntimeError, match="still masked"):
        maskgit_complete(m, torch.zeros(1, 4, dtype=torch.long), known, steps=2,
                         step_fn=lambda l, t, mk, n: (t, mk))
    with pytest.raises(ValueError):
        maskgit_complete(m, torch.zeros(1, 4, dtype=torch.long), known, steps=0)


def test_random_box_masks():
    masks = random_box_masks(500, 7, 7, 2, 4, generator=torch.Generator().manual_seed(0))
    assert masks.shape == (500, 7, 7) and masks.dtype == torch.bool
    area = masks.sum((1, 2))
    assert int(area.min()) >= 4 and int(area.max()) <= 16
    rows = masks.any(2).float().argmax(1)
    assert int(rows.min()) == 0 and int(rows.max()) >= 3              # holes start at the top and lower down
    assert masks[:, -1].any()                                        # ... and reach the bottom row for some
    with pytest.raises(ValueError):
        random_box_masks(2, 3, 3, 2, 4)


def test_train_filler_both_kinds_and_bad_kind():
    from course_lib.maskgit import train_filler
    from course_lib.prior import CodePrior

    tokens = torch.randint(0, 6, (40, 8))
    calls = []

    def my_loss(model, codes, generator=None):
        calls.append(codes.shape)
        return masked_token_loss(model, codes, generator=generator)

    mg = train_filler("maskgit", tokens, 6, d_model=16, n_layers=1, n_heads=2, steps=3, batch_size=8, loss=my_loss)
    assert isinstance(mg, MaskedTokenModel) and not mg.training and len(calls) == 3
    ar = train_filler("raster", tokens, 6, d_model=16, n_layers=1, n_heads=2, steps=2, batch_size=8)
    assert isinstance(ar, CodePrior)
    with pytest.raises(ValueError, match="kind"):
        train_filler("diffusion", tokens, 6, steps=1)
