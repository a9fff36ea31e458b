// SPDX-License-Identifier: MIT
#include "tensordecode.h"
