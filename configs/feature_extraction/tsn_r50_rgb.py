# TSN ResNet-50 RGB features (2048-d): mmaction2's Kinetics-400 TSN
# recognizer, one frame per snippet (the centre frame), short side 256,
# centre crop 224, the backbone's output averaged over space.
# Weights: the checkpoint of this mmaction2 config,
# tsn_imagenet-pretrained-r50_8xb32-1x1x3-100e_kinetics400-rgb (its model
# zoo, docs/custom_dataset.md); nothing is downloaded at run time.
_base_ = [
    'mmaction::recognition/tsn/'
    'tsn_imagenet-pretrained-r50_8xb32-1x1x3-100e_kinetics400-rgb.py'
]
# The checkpoint holds every weight: no ImageNet initialisation to fetch.
model = dict(backbone=dict(pretrained=None))
feature_extraction = dict(
    clip_len=1, frame_interval=1, short_side=256, crop_size=224,
    batch_size=32, decode_chunk=64)
