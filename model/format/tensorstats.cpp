// SPDX-License-Identifier: MIT
#include "tensorstats.h"
