// SPDX-License-Identifier: MIT
// libFuzzer harness: the tar reader (torch 0.1.x) and, with checksums repaired, the whole loader.
// Built with -DCKPT_FUZZ=ON (Clang); run through scripts/fuzz.sh (docs/FUZZING.md).

#include "fuzzsupport.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    ckpt::fuzz::runTar(ckpt::fuzz::viewOf(data, size));
    return 0;
}
