# I3D ResNet-50 RGB features (2048-d): mmaction2's Kinetics-400 I3D
# recognizer; each snippet is seen through a 32-frame clip, every 2nd
# frame (64 frames around the snippet's centre, the config's 32x2x1
# sampling), short side 256, centre crop 224, the backbone's output
# averaged over time and space.
# Weights: the checkpoint of this mmaction2 config,
# i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb (its model
# zoo, docs/custom_dataset.md); nothing is downloaded at run time.
_base_ = [
    'mmaction::recognition/i3d/'
    'i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb.py'
]
model = dict(backbone=dict(pretrained=None, pretrained2d=False))
feature_extraction = dict(
    clip_len=32, frame_interval=2, short_side=256, crop_size=224,
    batch_size=8, decode_chunk=64)
