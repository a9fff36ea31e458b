// SPDX-License-Identifier: MIT
#include "pickleunpickler.h"
