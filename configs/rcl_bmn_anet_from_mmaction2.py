# RCL-BMN initialised from an mmaction2 BMN checkpoint. Convert it first:
#   python tools/convert/mmaction2_bmn.py \
#       bmn_400x100_2x8_9e_activitynet_feature.pth \
#       checkpoints/bmn_400x100_rcl_mm.pth
# The converted keys (backbone.*, head.convs.*, head.out.*) load into the
# RCL model by name; the CAR MLP and the RRM start at zero output, so
# before fine-tuning the model's map is BMN's.
_base_ = ['rcl_bmn_anet.py']
work_dir = './work_dirs/rcl_bmn_anet_from_mmaction2'
load_from = 'checkpoints/bmn_400x100_rcl_mm.pth'
# The RCL parts are new: the checkpoint may lack them (any other missing,
# unexpected or misshapen key still stops the loading).
model = dict(allow_missing_keys=['head.car.', 'neck.'])
