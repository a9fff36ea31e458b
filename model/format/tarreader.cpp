// SPDX-License-Identifier: MIT
#include "tarreader.h"
