"""``spectrogram``: band-mask the normalised log-mel along time (n_fft 512), vocode.

Blending: 0.5 * m1(S1) + 0.5 * m2(S2) (protocol.md section 5).
"""

from __future__ import annotations

import numpy as np

from bench.core.bands import band_pass
from bench.core.mel import normalised_mel
from bench.core.registry import register
from bench.core.system import System, one_item_at_a_time_on_cpu

TIME_N_FFT = 512


@register
class Spectrogram(System):
    name = "spectrogram"
    description = "band-masked normalised log-mel along time, then the vocoder"
    uses_vocoder = True

    @one_item_at_a_time_on_cpu
    def conditional(self, batch):
        mels = normalised_mel(np.asarray(batch.references))
        masked = np.stack([band_pass(m, band, TIME_N_FFT) for m, band in zip(mels, batch.bands)])
        return self.context.vocoder(masked, batch.seeds, batch.references.shape[-1])

    @one_item_at_a_time_on_cpu
    def blend(self, batch):
        mels1 = normalised_mel(np.asarray(batch.references1))
        mels2 = normalised_mel(np.asarray(batch.references2))
        blended = np.stack(
            [
                0.5 * band_pass(m1, b1, TIME_N_FFT) + 0.5 * band_pass(m2, b2, TIME_N_FFT)
                for m1, m2, b1, b2 in zip(mels1, mels2, batch.bands1, batch.bands2)
            ]
        )
        return self.context.vocoder(blended, batch.seeds, batch.references1.shape[-1])
