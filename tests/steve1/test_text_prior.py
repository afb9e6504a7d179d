"""STEVE-1 text->goal prior: golden outputs of the official TranslatorVAE (fixtures §8), layout (fixtures §2)."""
import json

import pytest
import torch

from steve1.data.text_alignment import TranslatorVAE, load_text_prior

TOL = 1e-5


@pytest.fixture(scope="module")
def golden(fixtures_dir):
    return torch.load(fixtures_dir / "steve1_prior_small_golden.pt", weights_only=True)


def test_small_prior_reproduces_official_outputs(fixtures_dir, golden):
    prior = load_text_prior(fixtures_dir / "steve1_prior_small.pt")  # sizes read from the file
    assert (prior.input_dim, prior.hidden_dim, prior.latent_dim) == (512, 32, 16) and not prior.training
    text = golden["inputs"]["text_embeddings"]
    with torch.no_grad():
        goal = prior(text, deterministic=True)
        posterior = prior.encode(golden["inputs"]["visual_embeddings_for_encode"], text)
    assert (goal - golden["outputs"]["forward_deterministic"]).abs().max() <= TOL
    assert (posterior - golden["outputs"]["encode"]).abs().max() <= TOL

    # sampling: latent ~ N(0, I), seeded, and different from the mean
    with torch.no_grad():
        torch.manual_seed(0)
        a = prior(text)
        torch.manual_seed(0)
        b = prior(text)
    assert torch.equal(a, b) and (a - goal).abs().max() > 1e-4


def test_prior_matches_official_manifest(fixtures_dir):
    manifest = json.loads((fixtures_dir / "steve1_prior_manifest.json").read_text())
    model = TranslatorVAE(**manifest["config"])
    ours = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    assert ours == [(k, v["shape"]) for k, v in manifest["state_dict"].items()]
    assert sum(p.numel() for p in model.parameters()) == manifest["num_parameters"]


def test_wrong_prior_files_give_clear_errors(fixtures_dir, tmp_path):
    path = fixtures_dir / "steve1_prior_small.pt"
    with pytest.raises(ValueError, match=r"steve1_prior_small\.pt: shapes do not match.*latent_dim=512"):
        load_text_prior(path, latent_dim=512)
    with pytest.raises(ValueError, match=r"mineclip_small_attn\.pth"):
        load_text_prior(fixtures_dir / "mineclip_small_attn.pth")  # a MineCLIP checkpoint
    state = torch.load(path, weights_only=True)
    del state["decoder.4.bias"]
    torch.save(state, tmp_path / "broken_prior.pt")
    with pytest.raises(ValueError, match=r"broken_prior\.pt.*missing keys \['decoder\.4\.bias'\]"):
        load_text_prior(tmp_path / "broken_prior.pt")
    with pytest.raises(FileNotFoundError, match="steve1_prior"):
        load_text_prior(tmp_path / "steve1_prior.pt")
    with pytest.raises(ValueError, match=r"\[B, 512\]"):
        TranslatorVAE(512, 32, 16)(torch.zeros(2, 64))
