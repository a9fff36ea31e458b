// SPDX-License-Identifier: MIT
#include "checkpointreader.h"
