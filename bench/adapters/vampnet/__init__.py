"""A native inference port of VampNet (Garcia et al. 2023): its codec ``lac``, the coarse and
coarse-to-fine masked token transformers and the official sampling loop, written for current torch
from the official sources (github.com/hugofloresgarcia/vampnet at 72e2675, vampnet/interface.py and
vampnet/modules/transformer.py; github.com/hugofloresgarcia/lac at 7761206, lac/model/lac.py and
lac/nn/quantize.py). It loads the checkpoints users download themselves (``codec.pth``,
``coarse.pth``, ``c2f.pth``); nothing here downloads anything. See docs/vampnet.md.

Modules: checkpoint (reading and checking the files, folding weight norm and LoRA), codec, transformer,
sampling (one chunk's masked sampling loop and the interface's chunking), audio (the encode-side
resampling and loudness normalisation), pipeline (the three models together), benchmark.
"""
