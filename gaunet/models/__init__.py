"""The networks (`nn.Module`s only), each built from explicit arguments: the paper's U-Net
generator and DenseNet critic (`gaunet`, with their blocks in `layers` and `dense`), the DCGAN
baselines (`baselines`) and batch-norm recalibration (`calibration`). What a training step
computes with them, and how a config becomes their arguments, is in gaunet.training.loss*.
"""
