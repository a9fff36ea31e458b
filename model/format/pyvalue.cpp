// SPDX-License-Identifier: MIT
#include "pyvalue.h"
