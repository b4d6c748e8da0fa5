# VideoMAE ViT-B/16 features (768-d): mmaction2's VideoMAE recognizer
# fine-tuned on Kinetics-400; each snippet is seen through a 16-frame clip,
# every 4th frame (the config's 16x4x1 sampling), short side 224, centre
# crop 224; the backbone's mean-pooled token.
# Weights: the checkpoint of this mmaction2 config,
# vit-base-p16_videomae-k400-pre_16x4x1_kinetics-400 (its model zoo,
# docs/custom_dataset.md); nothing is downloaded at run time.
_base_ = [
    'mmaction::recognition/videomae/'
    'vit-base-p16_videomae-k400-pre_16x4x1_kinetics-400.py'
]
feature_extraction = dict(
    clip_len=16, frame_interval=4, short_side=224, crop_size=224,
    batch_size=8, decode_chunk=64)
