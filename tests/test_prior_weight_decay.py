"""course_lib.prior.weight_decay_groups: AdamW decays only the linear layers' weight matrices (issue 11, notebook 12)."""
import pytest
import torch

from course_lib.prior import CodePrior, weight_decay_groups


def test_groups_split_linear_weights_from_embeddings_norms_and_biases():
    prior = CodePrior(num_codes=8, seq_len=6, d_model=16, n_layers=2, n_heads=2, num_classes=3)
    decayed, rest = weight_decay_groups(prior, 0.1)
    assert decayed["weight_decay"] == 0.1 and rest["weight_decay"] == 0.0
    ids = lambda ps: {id(p) for p in ps}  # noqa: E731
    assert ids(decayed["params"]).isdisjoint(ids(rest["params"]))
    assert ids(decayed["params"]) | ids(rest["params"]) == ids(prior.parameters())
    linear_weights = {id(m.weight) for m in prior.modules() if isinstance(m, torch.nn.Linear)}
    assert ids(decayed["params"]) == linear_weights
    for p in (prior.tok_emb.weight, prior.start_emb.weight, prior.pos_emb, prior.ln_f.weight, prior.ln_f.bias,
              prior.head.bias, prior.blocks[0].ln1.weight):
        assert id(p) in ids(rest["params"])


def test_embeddings_of_unused_codes_do_not_shrink():
    """The reason for the split: with decay on every parameter, AdamW shrinks the embedding of a code that never
    occurs (its gradient is 0) by lr * wd each step; with the groups it stays where it was."""
    torch.manual_seed(0)
    prior = CodePrior(num_codes=8, seq_len=4, d_model=16, n_layers=1, n_heads=2)
    tokens = torch.randint(0, 4, (16, 4))                     # codes 4..7 never occur
    for groups in (True, False):
        model = CodePrior(num_codes=8, seq_len=4, d_model=16, n_layers=1, n_heads=2)
        model.load_state_dict(prior.state_dict())
        params = weight_decay_groups(model, 0.5) if groups else model.parameters()
        opt = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.5)
        before = model.tok_emb.weight[4:].detach().clone()
        for _ in range(20):
            opt.zero_grad()
            model.nll(tokens).backward()
            opt.step()
        after = model.tok_emb.weight[4:].detach()
        if groups:
            assert torch.allclose(after, before)
        else:
            assert float(after.norm()) < 0.95 * float(before.norm())


def test_negative_decay_rejected():
    with pytest.raises(ValueError, match="weight_decay"):
        weight_decay_groups(torch.nn.Linear(2, 2), -1.0)
