"""Recurrent-memory behaviour of the VPT transformer: episode starts at any frame (our fix), stepping == chunked
forward, immutable states with the preallocated memory, and clear errors for a mismatched state."""
import pytest
import torch
from gymnasium import spaces

from float_tolerance import assert_reordered_close, value_term_scale
from VPT.lib.masked_attention import episode_attention_mask

MAXLEN = 6  # tiny config: attention_memory_size 10 - timesteps 4
#: Tolerances for two computations of one value (tests/float_tolerance.py): in the tiny config the longest sum is
#: a 3x3 conv over 8 channels (72 terms) and the heads sit 32 reductions deep (15 convs, 2 dense, 2 transformer
#: layers of 6, last layer, head); the memory's keys/values are at most that deep.
K, DEPTH = 72, 32


def frames(n, seed, size=16):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (1, n, size, size, 3), dtype=torch.uint8, generator=g)


def flags(n, *starts):
    first = torch.zeros(1, n, dtype=torch.bool)
    first[0, list(starts)] = True
    return first


def assert_states_equal(a, b, reordered=False):
    """Equal masks; keys/values equal bit for bit, or (``reordered``: two computations of them) up to
    float32 reordering (module constants K, DEPTH)."""
    for (mask_a, (k_a, v_a)), (mask_b, (k_b, v_b)) in zip(a, b):
        assert torch.equal(mask_a, mask_b)
        if reordered:
            assert_reordered_close(k_a, k_b, K, DEPTH, msg="keys")
            assert_reordered_close(v_a, v_b, K, DEPTH, msg="values")
        else:
            assert torch.equal(k_a, k_b) and torch.equal(v_a, v_b)


def clone_state(state):
    return [(None if m is None else m.clone(), (k.clone(), v.clone())) for m, (k, v) in state]


@pytest.mark.parametrize("grad", [False, True], ids=["no_grad-preallocated", "grad-concatenated"])
def test_episode_start_mid_chunk_equals_running_the_episode_alone(tiny_policy_factory, grad):
    """[end of episode A | start of episode B] in one chunk, first=True at B's start: B's outputs and the state
    passed on equal running B alone from an empty memory (upstream would let B attend to A here)."""
    policy = tiny_policy_factory(spaces.Discrete(5))
    episode_a, episode_b, after = frames(5, 1), frames(3, 2), frames(4, 3)
    chunk = torch.cat([episode_a[:, 3:], episode_b], dim=1)  # 2 frames of A, then 3 of B
    with torch.set_grad_enabled(grad):
        # Fill the memory with episode A so that it is valid (and would leak into B without masking).
        _, state = policy({"img": episode_a[:, :3]}, flags(3, 0), policy.initial_state(1))
        (pd_mixed, v_mixed, _), state_mixed = policy({"img": chunk}, flags(5, 2), state)
        (pd_alone, v_alone, _), state_alone = policy({"img": episode_b}, flags(3, 0), policy.initial_state(1))
        assert_reordered_close(pd_mixed[:, 2:], pd_alone, K, DEPTH)
        assert_reordered_close(v_mixed[:, 2:], v_alone, K, DEPTH, scale=value_term_scale(policy))
        # A's frames are unaffected by B: equal to running them without B.
        (pd_a, _, _), _ = policy({"img": chunk[:, :2]}, flags(2), state)
        assert_reordered_close(pd_mixed[:, :2], pd_a, K, DEPTH)
        # The memory passed on holds only B's frames as valid, so the next chunk continues B identically.
        expected_mask = torch.tensor([[[False, False, False, True, True, True]]])
        assert torch.equal(state_mixed[0][0], expected_mask) and torch.equal(state_alone[0][0], expected_mask)
        (pd_next_mixed, _, _), _ = policy({"img": after}, flags(4), state_mixed)
        (pd_next_alone, _, _), _ = policy({"img": after}, flags(4), state_alone)
    assert_reordered_close(pd_next_mixed, pd_next_alone, K, DEPTH)
    # Without the mid-chunk flag B's frames do see A: the test would catch an ignored flag.
    with torch.no_grad():
        (pd_unflagged, _, _), _ = policy({"img": chunk}, flags(5), state)
    assert not torch.allclose(pd_unflagged[:, 2:], pd_alone, atol=1e-3)


def test_episode_attention_mask_first_at_chunk_start_is_the_official_rule():
    """With ``first`` only at chunk starts: memory masked iff first, band of width maxlen, chunk all valid."""
    first = torch.tensor([[True, False, False], [False, False, False]])
    state_mask = torch.tensor([[[True, True, False, True]], [[False, True, True, True]]])
    valid, mask_out = episode_attention_mask(first, state_mask, maxlen=4)
    i = torch.arange(3)[:, None]
    j = torch.arange(7)[None]
    band = (j > i) & (j <= i + 4)
    expected = band[None].repeat(2, 1, 1)
    expected[0, :, :4] = False  # row 0 starts an episode: no memory
    expected[1, :, :4] &= state_mask[1, 0][None]
    assert torch.equal(valid, expected)
    # official update: cat(state_mask[:, :, t:] & ~first, ones(min(t, maxlen)))
    assert torch.equal(mask_out, torch.tensor([[[False, True, True, True]], [[True, True, True, True]]]))


def test_stepping_equals_chunked_forward(tiny_policy_factory):
    """One frame per call with the state carried == one chunk; 14 frames > maxlen (the memory wraps) with an
    episode start at frame 9."""
    policy = tiny_policy_factory(spaces.Dict({"camera": spaces.Discrete(7), "buttons": spaces.Discrete(11)}))
    img, first = frames(14, 4), flags(14, 0, 9)
    with torch.no_grad():
        (pd_chunk, v_chunk, _), state_chunk = policy({"img": img}, first, policy.initial_state(1))
        state = policy.initial_state(1)
        for t in range(14):
            (pd, v, _), state = policy({"img": img[:, t : t + 1]}, first[:, t : t + 1], state)
            for key in pd:
                assert_reordered_close(pd[key][:, 0], pd_chunk[key][:, t], K, DEPTH, msg=str((t, key)))
            assert_reordered_close(v[:, 0], v_chunk[:, t], K, DEPTH, scale=value_term_scale(policy))
    assert_states_equal(state, state_chunk, reordered=True)


def test_states_are_immutable_values(tiny_policy_factory):
    """Later steps never change an earlier state (even across memory-buffer refills), and stepping twice from
    the same state gives the results of a fresh computation each time."""
    policy = tiny_policy_factory(spaces.Discrete(5))
    img = frames(3 * MAXLEN + 2, 5)
    no_first = torch.zeros(1, dtype=torch.bool)
    state = policy.initial_state(1)
    kept = []
    for t in range(img.shape[1]):
        _, state, _ = policy.act({"img": img[:, t]}, no_first, state, stochastic=False)
        kept.append((state, clone_state(state)))
    for live, snapshot in kept:
        assert_states_equal(live, snapshot)
    # The memory really is preallocated: consecutive states are views of one buffer (no copy per step).
    k1, k2 = kept[1][0][0][1][0], kept[2][0][0][1][0]
    assert k1.untyped_storage().data_ptr() == k2.untyped_storage().data_ptr()

    branch_point = kept[MAXLEN][0]
    x, y = frames(1, 6)[:, 0], frames(1, 7)[:, 0]
    results = [policy.act({"img": im}, no_first, branch_point, stochastic=False, return_pd=True) for im in (x, y, x)]
    with torch.enable_grad():  # reference: the concatenating path, which shares no memory
        reference, _ = policy({"img": x[:, None]}, no_first[:, None], clone_state(branch_point))
    assert_reordered_close(results[0][2]["pd"], reference[0][:, 0], K, DEPTH)
    assert_reordered_close(results[2][2]["pd"], reference[0][:, 0], K, DEPTH)
    assert_states_equal(results[0][1], results[2][1], reordered=True)
    assert not torch.allclose(results[1][2]["pd"], results[0][2]["pd"])
    assert_states_equal(kept[MAXLEN][0], kept[MAXLEN][1])


def test_mismatched_state_raises_clear_error(tiny_policy_factory):
    policy = tiny_policy_factory(spaces.Discrete(5))
    img = frames(2, 8)
    with pytest.raises(ValueError, match="initial_state"):
        policy({"img": img}, flags(2), policy.initial_state(2))  # batch 2 state for a batch 1 input
    with pytest.raises(ValueError, match="blocks"):
        policy({"img": img}, flags(2), policy.initial_state(1)[:1])
    with pytest.raises(ValueError, match="first"):
        policy({"img": img}, flags(3), policy.initial_state(1))
