// SPDX-License-Identifier: MIT
#include "inspectreport.h"
