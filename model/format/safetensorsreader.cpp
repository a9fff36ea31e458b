// SPDX-License-Identifier: MIT
#include "safetensorsreader.h"
