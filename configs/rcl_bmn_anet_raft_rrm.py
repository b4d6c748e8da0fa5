# RCL-BMN on ActivityNet v1.3 with the supplement's RRM: RAFT's
# SmallUpdateBlock on the map (hdim 64, cdim 32 as its Fig. 4), running on
# the 100 x 100 map pooled by 2 (50 x 50) and upsampled back. At this
# resolution the model's relative FLOPs (dense-equivalent count, as the
# paper counts) reproduce the supplement's Table 1 within 1.5 points at
# 0 / 1 / 5 / 10 / 15 iterations: `python tools/analysis/get_flops.py
# configs/rcl_bmn_anet_raft_rrm.py` (docs/rcl.md). Everything else is
# configs/rcl_bmn_anet.py, whose RRM is the cheaper 'light' block; the
# same block in any RCL config: --cfg-options
# model.refiner.update_block=raft_small model.refiner.stride=2.
_base_ = ['rcl_bmn_anet.py']
work_dir = './work_dirs/rcl_bmn_anet_raft_rrm'

model = dict(
    refiner=dict(
        _delete_=True,
        type='RRMRefiner',
        update_block='raft_small',
        in_channels=128,
        hdim=64,
        cdim=32,
        # RAFT-small's encoder: F branch (1x1), map branch (7x7, 3x3),
        # fusing 3x3 conv; a 3x3 head with 128 hidden channels.
        encoder_channels=(96, 64, 32, 80),
        head_channels=128,
        stride=2,
        iters=10,
        gamma=0.8,
        mixed_precision=False))
