"""The network: spacetime images, k-fold replication, ablations, the robust loss, AlexNet weights, PCA."""

import numpy as np
import pytest
import torch

from vis.config import ModelConfig, load_config, to_toml
from vis.data.frames import motion_statistics, spacetime_images
from vis.errors import VisError
from vis.model.backbones import AlexNet, load_alexnet_weights
from vis.model.checkpoint import SoundPCA
from vis.model.losses import robust_loss
from vis.model.network import VisNet

TINY = dict(backbone="small", image_size=(32, 24), feat_dim=16, hidden=8)


def frames(b=2, n=5, h=24, w=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, n + 2, h, w, 3), dtype=torch.uint8, generator=g)


def test_spacetime_channels_are_previous_current_next_grey():
    x = frames(1, 3)
    st = spacetime_images(x)
    assert st.shape == (1, 3, 3, 24, 32)
    grey = (0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]).float() / 255
    for t in range(3):
        for c in range(3):
            torch.testing.assert_close(st[0, t, c], grey[0, t + c])


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_output_rate_is_k_per_frame(layers):
    net = VisNet(ModelConfig(layers=layers, **TINY)).eval()
    assert net(frames(2, 5)).shape == (2, 15, 10)


def _changes(cfg, t_perturb, rows):
    torch.manual_seed(0)
    net = VisNet(cfg).eval()
    x = frames(1, 6)
    y = x.clone()
    y[0, t_perturb + 1] = 255 - y[0, t_perturb + 1]  # frame t_perturb of the sequence
    with torch.no_grad():
        return (net(x)[0, rows] - net(y)[0, rows]).abs().max().item()


def test_rnn_carries_information_forward_and_no_rnn_does_not():
    late = slice(3 * 4, 3 * 6)  # rows of frames 4 and 5
    assert _changes(ModelConfig(**TINY), 2, late) > 1e-6  # frame 2 influences later sound through the RNN
    # without the RNN a frame only affects its own rows (spacetime images also see t-1 and t+1)
    assert _changes(ModelConfig(rnn=False, **TINY), 2, late) == 0.0


def test_prediction_is_causal():
    early = slice(0, 3 * 2)  # frames 0 and 1 cannot see frame 4 (nor its spacetime neighbours)
    assert _changes(ModelConfig(**TINY), 4, early) == 0.0


def test_no_spacetime_uses_colour_frames():
    net = VisNet(ModelConfig(spacetime=False, **TINY))
    seq, first = net.inputs(frames(1, 4))
    assert seq.shape == (1, 4, 3, 24, 32)
    torch.testing.assert_close(seq[0, 0], first[0])


def test_robust_loss_formula():
    p, t = torch.zeros(2, 3, 10), torch.zeros(2, 3, 10)
    t[0, 0, 0] = 0.5
    expected = (np.log(1 / 625 + 0.25) + 5 * np.log(1 / 625)) / 2
    assert robust_loss(p, t).item() == pytest.approx(expected, rel=1e-6)


def test_squared_loss_option():
    from vis.config import CENTRED, DETECTION
    from vis.objective import window_loss

    p, t = torch.zeros(2, 6, 10), torch.zeros(2, 6, 10)
    t[0, 0, 0] = 0.5
    env = torch.full((2, 6, 42), 0.01)
    assert window_loss(p, t, env, CENTRED, "squared").item() == pytest.approx(0.25 / 2)
    assert window_loss(p, t, env, CENTRED).item() == pytest.approx(robust_loss(p, t).item())
    # detection: the aligned loss; a prediction equal to the target costs nothing with squared residuals
    assert window_loss(t, t, env, DETECTION, "squared").item() == 0.0


def test_frozen_trunk_gets_no_gradient():
    net = VisNet(ModelConfig(frozen=True, **TINY))
    net(frames(2, 3)).sum().backward()
    assert all(p.grad is None for p in net.backbone.trunk.parameters())
    assert any(p.grad is not None for p in net.backbone.head.parameters())


def test_alexnet_loads_torchvision_layout_weights(tmp_path):
    src = AlexNet()
    tv = {}  # torchvision's key names: features.*, classifier.{1,4,6}.*
    for k, v in src.state_dict().items():
        k = k.replace("trunk.0.", "features.").replace("head.0.", "classifier.1.").replace("head.2.", "classifier.4.")
        tv[k] = v.clone()
    tv["classifier.6.weight"] = torch.zeros(1000, 4096)
    torch.save(tv, tmp_path / "alexnet.pth")
    dst = AlexNet()
    load_alexnet_weights(dst, str(tmp_path / "alexnet.pth"))
    for (k, a), b in zip(src.state_dict().items(), dst.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)
    torch.save({"x": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(VisError, match="not an AlexNet"):
        load_alexnet_weights(dst, str(tmp_path / "bad.pth"))
    with pytest.raises(VisError, match="not found"):
        load_alexnet_weights(dst, str(tmp_path / "nope.pth"))


def test_pca_round_trip_on_low_rank_sound():
    rng = np.random.default_rng(0)
    roots = rng.random((500, 4)) @ rng.random((4, 42))  # rank 4 square roots
    env = roots**2
    pca = SoundPCA.fit(env, 10)
    np.testing.assert_allclose(pca.decode(pca.encode(env)), env, atol=1e-4)
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(10), atol=1e-5)


def test_config_toml_round_trip_and_errors(tmp_path):
    cfg = load_config(None, backbone="small", epochs=3, no_such=None)
    assert cfg.train.epochs == 3 and cfg.model.image_size == (128, 72)
    p = tmp_path / "run.toml"
    p.write_text(to_toml(cfg))
    again = load_config(p)
    assert again == cfg
    assert load_config(None, task="detection").model.layers == 3
    assert load_config(None, task="detection").model.lag == 2
    p.write_text("[model]\nbogus = 1\n")
    with pytest.raises(VisError, match="unknown option 'bogus'"):
        load_config(p)
    p.write_text("[model\n")
    with pytest.raises(VisError, match="not valid TOML"):
        load_config(p)


@pytest.mark.parametrize("overrides,match", [({"epochs": "ten"}, "epochs must be a whole number"),
                                             ({"backbone": 0}, "backbone must be a string"),
                                             ({"lr": float("inf")}, "lr must be a finite number"),
                                             ({"image_size": [128, 7.5]}, "list of whole numbers"),
                                             ({"centres": "onset"}, "centres must be"),
                                             ({"loss": "l1"}, "loss must be"),
                                             ({"batch_size": 0}, "batch_size must be"),
                                             ({"lag": -1}, "lag must be an integer"),
                                             ({"image_size": [4, 4]}, "image_size")])
def test_config_values_are_checked(overrides, match):
    with pytest.raises(VisError, match=match):
        load_config(None, **overrides)


def test_motion_channels_are_the_same_frames_as_differences():
    frames = torch.randint(0, 256, (1, 5, 6, 8, 3), dtype=torch.uint8)
    plain, motion = spacetime_images(frames), spacetime_images(frames, motion=True)
    assert torch.allclose(motion[:, :, 0], plain[:, :, 1])
    assert torch.allclose(motion[:, :, 1] - 0.5, 4.0 * (plain[:, :, 1] - plain[:, :, 0]), atol=1e-6)
    assert torch.allclose(motion[:, :, 2] - 0.5, 4.0 * (plain[:, :, 2] - plain[:, :, 1]), atol=1e-6)
    still = spacetime_images(frames[:, :1].expand(-1, 5, -1, -1, -1), motion=True)  # nothing moves
    assert torch.all(still[:, :, 1:] == 0.5)


def test_prior_is_added_to_centred_windows_only():
    torch.manual_seed(0)
    net = VisNet(ModelConfig(feat_dim=8, hidden=8, image_size=(16, 16), prior_rows=6, motion="frames")).eval()
    net.prior.fill_(3.0)
    frames = torch.randint(0, 256, (1, 4, 16, 16, 3), dtype=torch.uint8)  # 2 frames -> 6 rows
    longer = torch.randint(0, 256, (1, 5, 16, 16, 3), dtype=torch.uint8)  # 3 frames -> 9 rows
    with torch.no_grad():
        with_prior = net(frames)
        net.prior.zero_()
        assert torch.allclose(with_prior - net(frames), torch.full_like(with_prior, 3.0))
        assert net(longer).shape[1] == 9  # other lengths (whole videos) get no prior
        net.prior.fill_(3.0)
        assert torch.allclose(net(frames, centred=False), with_prior - 3.0, atol=1e-6)  # nor a stretch of a video
    assert "prior" in net.state_dict()  # checkpoints carry it


def _motion_statistics_reference(x: np.ndarray) -> np.ndarray:
    """Slow reference: loop over windows, frames and the two differences."""
    grey = 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]
    out = np.zeros((x.shape[0], x.shape[1] - 2, 14))
    for b in range(x.shape[0]):
        for t in range(x.shape[1] - 2):
            row = []
            for d in (grey[b, t + 1] - grey[b, t], grey[b, t + 2] - grey[b, t + 1]):
                v = np.sort(np.abs(d).ravel())
                last = len(v) - 1
                row += [v.mean(), v[round(0.9 * last)], v[round(0.99 * last)], v[-1]]
                row += [(v > t).mean() * 10_000 for t in (8, 24, 64)]
            out[b, t] = np.log1p(row) * 0.25
    return out


def test_motion_statistics_agree_with_a_slow_reference_and_vanish_when_nothing_moves():
    x = frames(2, 4)
    got = motion_statistics(x).numpy()
    assert got.shape == (2, 4, 14)
    np.testing.assert_allclose(got, _motion_statistics_reference(x.numpy().astype(np.float64)), atol=1e-4)
    still = x[:, :1].expand(-1, 6, -1, -1, -1)
    assert motion_statistics(still).abs().max() == 0
    moving = torch.zeros(1, 4, 24, 32, 3, dtype=torch.uint8)  # a white 2x2 square moves 3 px per frame
    for t in range(4):
        moving[0, t, 10:12, 3 * t : 3 * t + 2] = 255
    stats = motion_statistics(moving)[0]
    assert torch.allclose(stats[:, 3], torch.full((2,), np.log1p(255.0) * 0.25))  # max |difference| in frame 1, 2
    assert torch.all(stats[:, 1] == 0)  # 90th percentile: the square covers < 10 % of the image
    moved = 8 / (24 * 32) * 10_000  # 4 pixels left, 4 arrived
    assert torch.allclose(stats[:, 4:7], torch.full((2, 3), np.log1p(moved) * 0.25))


def test_colour_trunk_is_frozen_and_the_colour_only_ablation_sees_no_motion():
    net = VisNet(ModelConfig(colour_trunk=True, **TINY))
    assert net.cfg.motion_stats
    net(frames(2, 3)).sum().backward()
    assert all(p.grad is None for p in net.colour_net.trunk.parameters())
    assert any(p.grad is not None for p in net.colour_net.head.parameters())
    assert not VisNet(ModelConfig(spacetime=False, **TINY)).cfg.motion_stats


def test_backbone_none_learns_nothing_from_pixels_but_sees_motion_and_colour():
    from vis.cli import BACKBONE_CHOICES
    from vis.config import BACKBONES

    assert sorted(BACKBONE_CHOICES) == sorted(BACKBONES)  # the CLI's list (kept free of torch) is the model's
    cfg = dict(TINY, backbone="none", motion="frames")  # the statistics of the frames it is given
    assert ModelConfig().backbone == "none"
    assert _changes(ModelConfig(**cfg), 2, slice(3 * 2, 3 * 6)) > 1e-6  # a changed frame changes the sound
    assert _changes(ModelConfig(**cfg), 4, slice(0, 3 * 2)) == 0.0  # and only later
    net = VisNet(ModelConfig(**cfg))
    assert not any(p.requires_grad for p in net.backbone.parameters())
    colour_only = VisNet(ModelConfig(spacetime=False, **cfg))  # per-frame colour through the frozen trunk
    assert colour_only(frames(2, 3)).shape == (2, 9, 10)
    with pytest.raises(VisError, match="none"):
        ModelConfig(backbone="none", colour_trunk=False)
