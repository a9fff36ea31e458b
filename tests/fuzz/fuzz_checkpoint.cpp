// SPDX-License-Identifier: MIT
// libFuzzer harness: the whole loader (readCheckpointBytes), then statistics and values of every tensor.
// Built with -DCKPT_FUZZ=ON (Clang); run through scripts/fuzz.sh (docs/FUZZING.md).

#include "fuzzsupport.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    ckpt::fuzz::runCheckpoint(ckpt::fuzz::viewOf(data, size));
    return 0;
}
