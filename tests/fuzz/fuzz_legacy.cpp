// SPDX-License-Identifier: MIT
// libFuzzer harness: the legacy stream reader (torch < 1.6), behind a fixed magic-number pickle.
// Built with -DCKPT_FUZZ=ON (Clang); run through scripts/fuzz.sh (docs/FUZZING.md).

#include "fuzzsupport.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    ckpt::fuzz::runLegacy(ckpt::fuzz::viewOf(data, size));
    return 0;
}
