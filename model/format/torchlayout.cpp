// SPDX-License-Identifier: MIT
#include "torchlayout.h"
