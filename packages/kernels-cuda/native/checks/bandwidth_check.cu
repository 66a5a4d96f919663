// The floor every memory-bound figure is compared with: device-to-device copy bandwidth (bytes read
// plus written per second), measured in the same run as the benchmarks (run-gpu-tests.sh bench).
#include "checks/check_registry.h"

DUO_CHECK(CopyBandwidth) {
  if (reporter.Benchmarks()) duo::checks::CopyBandwidth(reporter);
}
