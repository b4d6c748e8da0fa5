# RCL-BMN on ActivityNet v1.3 with our light RRM in place of the
# supplement's: a 3x3 map encoder and a 1x1 F encoder feeding the same
# ConvGRU on the map pooled by 6 (17 x 17 cells), the delta predicted per
# cell at full resolution by a 1x1 head. 0.041 GFLOPs per iteration
# against the supplement's block's 0.940 (docs/rcl.md: cost, speed and
# demo accuracy). Everything else, the supplement's scoring included, is
# configs/rcl_bmn_anet.py. Checkpoints of one block do not load into the
# other (different layers): a checkpoint trained with the light RRM
# (every RCL config before the supplement's RRM became the default) loads
# with this config. The same block in any RCL config: --cfg-options
# model.neck.update_block=light model.neck.stride=6
# model.neck.head_channels=16.
_base_ = ['rcl_bmn_anet.py']
work_dir = './work_dirs/rcl_bmn_anet_light_rrm'

model = dict(
    neck=dict(
        _delete_=True,
        type='RRMRefiner',
        update_block='light',
        in_channels=128,
        hdim=64,
        cdim=32,
        map_channels=16,
        feat_channels=16,
        head_channels=16,
        # The GRU runs on the map pooled 6 x 6 (17 x 17 cells): 41 MFLOPs
        # per iteration, 10 add 0.9% to the model as the paper counts it
        # (tools/analysis/get_flops.py).
        stride=6,
        iters=10,
        gamma=0.8,
        mixed_precision=False))
