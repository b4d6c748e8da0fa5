# A tiny 2-D extractor for tests and CPU demos (64-d features, 32 x 32
# crops): mmaction2's TSN recognizer config with ResNet-18 cut to its first
# stage. Run it with --random-weights; its features carry no meaning.
_base_ = [
    'mmaction::recognition/tsn/'
    'tsn_imagenet-pretrained-r50_8xb32-1x1x3-100e_kinetics400-rgb.py'
]
model = dict(
    backbone=dict(
        depth=18,
        num_stages=1,
        out_indices=(0, ),
        strides=(1, ),
        dilations=(1, ),
        pretrained=None),
    cls_head=dict(in_channels=64))
# How each snippet is seen (rcl_mm.apis.feature_extraction): 2 frames,
# 4 apart, centred on the snippet, short side 40, centre crop 32.
feature_extraction = dict(
    clip_len=2, frame_interval=4, short_side=40, crop_size=32,
    batch_size=8, decode_chunk=32)
