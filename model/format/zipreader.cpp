// SPDX-License-Identifier: MIT
#include "zipreader.h"
