// SPDX-License-Identifier: MIT
#include "globalclass.h"
