// The floor of every memory-bound figure: device-to-device copy bandwidth, counted as bytes read
// plus bytes written per second, as the median of timed cudaMemcpy calls (CUDA events).
#pragma once

#include <cstddef>

#include "host/status.h"

namespace duo {

/** Measures on `device` with two buffers of `bytes` (1 GiB gives a stable figure on H100-class GPUs). */
Status MeasureCopyBandwidth(int device, std::size_t bytes, int repetitions, double* bytes_per_second,
                            double* median_ms);

}  // namespace duo
