# Copyright (c) rcl_mm contributors. All rights reserved.
"""FLOP counting: hand cases, the BM-layer handle, the RRM budget."""
import os.path as osp

import pytest
import torch
import torch.nn as nn

from rcl_mm.models import BMNBackbone, RCLHead, RRMRefiner
from rcl_mm.models.complexity import (bm_layer_dense_flops, bm_layer_flops,
                                      count_flops, count_flops_both,
                                      parameter_count, rcl_head_flops,
                                      rrm_functional_flops)

from analysis_tools import load_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


class Tiny(nn.Module):

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Sequential(nn.Conv1d(4, 6, 1, groups=2), nn.ReLU(),
                               nn.Linear(5, 7))

    def forward(self, x):
        y = self.a(x)  # 1 x 4 x 5 x 5
        return self.b(y.mean(-1))  # 1 x 6 x 5 -> 1 x 6 x 7


def test_count_flops_hand_case():
    counts = count_flops(Tiny(), torch.randn(1, 3, 5, 5))
    # conv2d: 4 x 5 x 5 outputs x 3 x 9; conv1d: 6 x 5 x (4 / 2);
    # linear: 6 x 7 outputs x 5.
    assert counts['a'] == 100 * 27
    assert counts['b'] == 60 + 210
    assert counts['total'] == 2700 + 270
    params = parameter_count(Tiny())
    assert params['a'] == 4 * 27 + 4
    assert params['total'] == params['a'] + params['b']


def test_bm_layer_flops_counts_bmm_and_taps():
    backbone = BMNBackbone(feat_dim=4, temporal_dim=3, duration_dim=1,
                           num_samples=2, num_samples_per_bin=1,
                           hidden_dim_1d=4, hidden_dim_3d=5)
    # D = 1: anchors (0, 0), (0, 1), (0, 2) (index units), widened by
    # 0.5 per side: 2 points at t - 0.5 and t + 0.5. Anchor 0: -0.5 -> all
    # weight on index 0, 0.5 -> indices 0 and 1 (2 taps, 1 per bin after
    # merging... 1 + 2); anchor 1: 0.5 -> 0, 1 and 1.5 -> 1, 2 (4 taps);
    # anchor 2: ends past the window (t + d > T - 1 is fine here: 2 <= 2),
    # 1.5 -> 1, 2 and 2.5 -> 2 (the upper tap 3 is dropped): 3 taps.
    taps = 1 + 2 + 4 + 3
    expected = 3 * 4 * 5 * 2 + 5 * taps
    assert bm_layer_flops(backbone, 1) == expected
    assert bm_layer_flops(backbone, 2) == 2 * expected


def test_rrm_iterations_table_and_budget():
    """The light RRM's budget (fused count); the supplement's RRM costs
    what Table 1 says (test_both_counts_and_table1_of_the_supplements_rrm).
    """
    tool = load_tool('get_flops')
    model = tool.build_model(
        osp.join(ROOT, 'configs/rcl_bmn_anet_light_rrm.py'))
    inputs = torch.randn(1, 400, 100)
    rows = tool.iteration_table(model, inputs, [0, 1, 5, 10, 15])
    assert model.neck.iters == 10
    flops = {iters: total for iters, total, _ in rows}
    relative = {iters: rel for iters, _, rel in rows}
    assert relative[1] == 100.0
    # Linear in the iterations: the same cost per step.
    step = flops[5] - flops[1]
    assert flops[15] - flops[10] == step * 5 // 4
    # The target: 10 iterations add at most 20% to the 0-iteration model.
    assert flops[10] <= 1.2 * flops[0]


def test_rrm_functional_flops_hand_case():
    """Pooled grid 3 x 5 (6 x 9, stride 2, ceil). The GRU's 3x3 convs
    (hidden 8; input 3 map + 5 feature + 4 context channels): the 9 fixed
    channels once, the 8 + 3 others every iteration. The head's first 1x1
    conv (7 outputs): hidden part on the pooled grid and map part (2
    channels) on the 6 x 9 grid every iteration, fine part (5) once; its
    last 1x1 conv (7 -> 2) on the 6 x 9 grid every iteration."""
    neck = RRMRefiner(in_channels=6, hdim=8, cdim=4, map_channels=3,
                         feat_channels=5, head_channels=7, stride=2, iters=4)
    feat = torch.zeros(2, 6, 6, 9)
    gru_once = 15 * 9 * 3 * 8 * 9
    gru_per_iter = 15 * 9 * 3 * 8 * (8 + 3)
    # The head's fine-feature part, and the fine features (1x1, 6 -> 5).
    head_once = 7 * 54 * 5 + 54 * 5 * 6
    head_per_iter = 7 * (15 * 8 + 54 * 2) + 54 * 2 * 7
    assert rrm_functional_flops(neck, feat, 4) == 2 * (
        gru_once + head_once + 4 * (gru_per_iter + head_per_iter))
    assert rrm_functional_flops(neck, feat, 0) == 0
    # One more iteration adds, per batch element: map_enc (3x3, 2 -> 3) on
    # the 15 pooled cells (a module), and the functional parts.
    logits = torch.zeros(2, 2, 6, 9)
    step = count_flops(neck, feat, logits=logits, iters=4)['total'] - \
        count_flops(neck, feat, logits=logits, iters=3)['total']
    modules = 15 * 3 * 2 * 9
    assert step == 2 * (modules + gru_per_iter + head_per_iter)


@pytest.mark.parametrize('mode', ['nearest', 'exact'])
def test_rcl_head_flops_hand_case(mode):
    """F from a 3-channel map on a 2 x 3 grid: a 1x1 and two 3x3 convs
    (4 channels); then the cell terms (2 + 5 outputs from 4 channels) and
    the MLP's last layer (5 -> 2) per cell; exact mode adds its 1x1
    projection (3 -> 4) and those 4 columns of the MLP's first layer."""
    head = RCLHead(in_channels=3, hidden_channels=4, mlp_channels=5,
                   mode=mode)
    cells = 6
    convs = cells * 4 * (3 + 2 * 4 * 9)
    terms = cells * 7 * 4
    grid = cells * 5 * 2
    if mode == 'exact':
        grid += cells * (4 * 3 + 5 * 4)
    # F's convolutions are modules, counted by their hooks; the split
    # layers by rcl_head_flops (exact mode's 1x1 projection is a module).
    counts = count_flops(head.convs, torch.randn(2, 3, 2, 3))
    assert counts['total'] == 2 * convs
    assert rcl_head_flops(head, 2, cells=cells, terms_cells=cells) == \
        2 * (terms + grid - (cells * 4 * 3 if mode == 'exact' else 0))
    if mode == 'exact':
        projection = count_flops(head.exact_proj, torch.randn(2, 3, cells))
        assert projection['total'] == 2 * cells * 4 * 3
    # Segments: the last layer and the offset columns (and exact ones).
    per_segment = 5 * 2 + 5 * 2 + (5 * 4 if mode == 'exact' else 0)
    assert rcl_head_flops(head, 3, segments=7) == 3 * 7 * per_segment
    # Nothing is left on the head.
    assert 'cell_terms' not in vars(head)
    assert not any(m._forward_hooks for m in head.modules())


def test_shared_read_of_f_is_counted_as_the_cell_terms(monkeypatch):
    """The localizer computes the head's cell terms in the product it
    shares with the neck: the same count as RCLHead.cell_terms gives,
    per part, by hooks alone (nothing set on the model)."""
    from rcl_mm.models import RCLLocalizer
    torch.manual_seed(0)
    model = RCLLocalizer(
        backbone=dict(type='BMNBackbone', feat_dim=12, temporal_dim=8,
                      duration_dim=5, num_samples=4, hidden_dim_1d=16,
                      hidden_dim_3d=24),
        head=dict(type='RCLHead', in_channels=24, hidden_channels=8,
                  mlp_channels=4),
        neck=dict(type='RRMRefiner', in_channels=8, hdim=4, cdim=2,
                  map_channels=2, feat_channels=3, head_channels=3,
                  stride=2, iters=2))
    inputs = torch.randn(2, 12, 8)
    assert model.read_features(torch.randn(2, 8, 5, 8))[1] is not None
    attributes = {name: dict(vars(m)) for name, m in model.named_modules()}
    hooks = {name: (dict(m._forward_hooks), dict(m._forward_pre_hooks))
             for name, m in model.named_modules()}
    shared = count_flops(model, inputs, mode='tensor')
    assert {name: dict(vars(m))
            for name, m in model.named_modules()} == attributes
    assert {name: (dict(m._forward_hooks), dict(m._forward_pre_hooks))
            for name, m in model.named_modules()} == hooks
    monkeypatch.setattr(model, 'read_features', lambda feat, iters=None:
                        (model.head.cell_terms(feat), None))
    separate = count_flops(model, inputs, mode='tensor')
    assert shared == separate
    # The head: F's convolutions (modules) and its split layers on the
    # 5 x 8 grid (cell terms and logits).
    convs = count_flops(model.head.convs, torch.randn(2, 24, 5, 8))
    assert shared['head'] == convs['total'] + rcl_head_flops(
        model.head, 2, cells=40, terms_cells=40)
    assert convs['total'] > 0
    # Counted for one forward pass: other modes are refused.
    from mmaction.structures import ActionDataSample
    samples = [ActionDataSample(metainfo=dict(video_name=f'v{i}',
                                              duration_second=8.))
               for i in range(2)]
    with pytest.raises(ValueError, match="mode='tensor'"):
        count_flops(model.eval(), inputs, data_samples=samples,
                    mode='predict')


def test_registered_counter_of_a_new_module_type():
    """A module type of one's own is counted by registering its counter
    (the forward hook's arguments), attributed to its top-level part."""
    from rcl_mm.models.complexity import FLOP_COUNTERS, register_flop_counter

    class Scale(nn.Module):

        def forward(self, x, factor=2):
            return x * factor

    class Model(nn.Module):

        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv1d(2, 3, 1), Scale())

        def forward(self, x):
            return self.body(x)

    try:
        register_flop_counter(Scale)(
            lambda module, args, kwargs, output: 5 * output.numel())
        counts = count_flops(Model(), torch.randn(1, 2, 4))
    finally:
        FLOP_COUNTERS.pop(Scale)
    assert counts == dict(body=3 * 4 * 2 + 5 * 3 * 4,
                          total=3 * 4 * 2 + 5 * 3 * 4)


def test_count_taps_is_the_merged_plans_non_zero_weights():
    """Two taps of one bin at the same index count once; a zero weight
    not at all; per bin and segment."""
    from rcl_mm.ops import count_taps
    index = torch.tensor([[[0, 0, 1], [2, 3, 3]], [[1, 2, 2], [0, 1, 2]]])
    weight = torch.tensor([[[.2, .3, .5], [.5, .25, .25]],
                           [[0., .5, .5], [.1, 0., .9]]])
    # Bins: {0, 1} 2; {2, 3} 2; {2} 1; {0, 2} 2.
    assert count_taps(index, weight) == 7
    with pytest.raises(ValueError, match='one shape'):
        count_taps(index, weight[..., :2])


def test_bm_layer_dense_flops_hand_case():
    """mmaction2's dense BM layer on T = 3, D = 1, N = 2, C = 4, O = 5:
    the mask product 4 x 3 times 3 x (2 * 1 * 3), then the 3-D conv
    (4 x 2 inputs per output) on 5 x 1 x 3 outputs; whatever the taps."""
    backbone = BMNBackbone(feat_dim=4, temporal_dim=3, duration_dim=1,
                           num_samples=2, num_samples_per_bin=1,
                           hidden_dim_1d=4, hidden_dim_3d=5)
    expected = 4 * 3 * (2 * 1 * 3) + (5 * 1 * 3) * (4 * 2)
    assert bm_layer_dense_flops(backbone, 1) == expected == 192
    assert bm_layer_dense_flops(backbone, 3) == 3 * expected
    # ActivityNet's BMN: C = 256, O = 512, N = 32, T = D = 100.
    anet = BMNBackbone(feat_dim=400, temporal_dim=100)
    assert bm_layer_dense_flops(anet, 1) == \
        256 * 100 * 320000 + 512 * 10000 * 256 * 32 == 50_135_040_000


def test_dense_count_is_mmaction2_bmn_counted_by_torch():
    """Our BMN counted with the dense BM layer equals mmaction2's BMN
    itself counted by torch's FlopCounterMode (which counts its
    sampling-mask matmul and every convolution, 2 FLOPs per
    multiply-accumulate), at the same arguments; the fused count is what
    our BMN runs instead (less)."""
    from torch.utils.flop_counter import FlopCounterMode

    import rcl_mm  # noqa: F401 (mmaction.models importable)
    from mmaction.models import BMN as MMBMN
    from rcl_mm.models import BMN
    kwargs = dict(temporal_dim=8, boundary_ratio=0.5, num_samples=4,
                  num_samples_per_bin=2, feat_dim=12, soft_nms_alpha=0.4,
                  soft_nms_low_threshold=0.5, soft_nms_high_threshold=0.9,
                  post_process_top_k=10, hidden_dim_1d=16, hidden_dim_2d=8,
                  hidden_dim_3d=24)
    inputs = torch.randn(2, 12, 8)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        MMBMN(**kwargs).eval()._forward(inputs)
    ours = BMN(**kwargs).eval()
    both = count_flops_both(ours, inputs, mode='tensor')
    assert 2 * both['dense']['total'] == counter.get_total_flops()
    assert both['dense'] == count_flops(ours, inputs, bm_count='dense',
                                        mode='tensor')
    assert both['fused'] == count_flops(ours, inputs, mode='tensor')
    bm_difference = bm_layer_dense_flops(ours.backbone, 2) - \
        bm_layer_flops(ours.backbone, 2)
    assert both['dense']['backbone'] - both['fused']['backbone'] == \
        bm_difference > 0
    assert both['dense']['head'] == both['fused']['head']
    with pytest.raises(ValueError, match='bm_count'):
        count_flops(ours, inputs, bm_count='sparse', mode='tensor')


def test_small_rrm_functional_flops_hand_case():
    """'raft_small' on a 6 x 9 map pooled by 2 (3 x 5 = 15 cells), F of
    6 channels, hdim 8, cdim 4, encoder (5, 4, 3, 6), head 7. Once: the
    context net (3x3, 6 -> 12), the F branch (1x1, 6 -> 5), its columns
    of the fusing conv (3x3, 5 -> 6) and the GRU's context columns (3x3,
    4 -> 3 x 8). Per iteration: the map branch (7x7, 2 -> 4; 3x3,
    4 -> 3), its columns of the fusing conv (3 -> 6), the GRU's hidden
    and encoder columns (8 + 6 + 2 -> 3 x 8) and the head (3x3, 8 -> 7,
    7 -> 2), all on the 15 cells."""
    neck = RRMRefiner(in_channels=6, hdim=8, cdim=4,
                         update_block='raft_small',
                         encoder_channels=(5, 4, 3, 6), head_channels=7,
                         stride=2, iters=4)
    feat = torch.zeros(2, 6, 6, 9)
    cells = 15
    functional_once = cells * 9 * (6 * 5 + 3 * 8 * 4)
    functional_per_iter = cells * 9 * (6 * 3 + 3 * 8 * (8 + 8))
    assert rrm_functional_flops(neck, feat, 4) == 2 * (
        functional_once + 4 * functional_per_iter)
    modules_once = cells * (9 * 6 * 12 + 6 * 5)
    modules_per_iter = cells * (49 * 2 * 4 + 9 * 4 * 3 + 9 * 8 * 7 +
                                9 * 7 * 2)
    logits = torch.zeros(2, 2, 6, 9)
    counts = {iters: count_flops(neck, feat, logits=logits,
                                 iters=iters)['total'] for iters in (0, 3, 4)}
    assert counts[0] == 0
    assert counts[4] - counts[3] == 2 * (modules_per_iter +
                                         functional_per_iter)
    assert counts[4] == 2 * (modules_once + functional_once + 4 *
                             (modules_per_iter + functional_per_iter))


def test_both_counts_and_table1_of_the_supplements_rrm(tmp_path):
    """get_flops --json on RCL-BMN (ANet) with the supplement's RRM: both
    counts, and on the dense-equivalent count the relative FLOPs at 0 / 1
    / 5 / 10 / 15 iterations within 1.5 of the supplement's Table 1."""
    import json
    tool = load_tool('get_flops')
    path = tmp_path / 'flops.json'
    tool.main([osp.join(ROOT, 'configs/rcl_bmn_anet.py'),
               '--json', str(path)])
    report = json.loads(path.read_text())
    assert set(report) >= {'fused', 'dense_equivalent', 'table1', 'params'}
    fused, dense = report['fused'], report['dense_equivalent']
    # The BM layer: our fused op's count, or mmaction2's dense one.
    anet = BMNBackbone(feat_dim=400, temporal_dim=100)
    assert dense['parts']['backbone'] - fused['parts']['backbone'] == \
        bm_layer_dense_flops(anet, 1) - bm_layer_flops(anet, 1)
    for key in ('head', 'neck'):
        assert dense['parts'][key] == fused['parts'][key]
    assert fused['parts']['total'] == fused['iters']['10']
    table = report['table1']
    assert list(table) == ['0', '1', '5', '10', '15']
    assert table['1'] == 100.0
    for iters, paper in tool.TABLE1.items():
        assert abs(table[str(iters)] - paper) <= 1.5, (iters, table)
    # The same cost per iteration in both counts, about 1.7% of the
    # dense-equivalent model (the supplement's Table 1: 24.1 / 14).
    assert dense['per_iteration'] == fused['per_iteration']
    assert 1.6 < 100 * dense['per_iteration'] / dense['iters']['1'] < 1.8
