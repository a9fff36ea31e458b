// SPDX-License-Identifier: MIT
// libFuzzer harness: the torch.distributed.checkpoint reader, the input being a directory's
// .metadata beside the FSDP fixture's two rank files (issue 19).
// Built with -DCKPT_FUZZ=ON (Clang); run through scripts/fuzz.sh (docs/FUZZING.md).

#include "fuzzsupport.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    ckpt::fuzz::runDcp(ckpt::fuzz::viewOf(data, size));
    return 0;
}
