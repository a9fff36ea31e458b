// SPDX-License-Identifier: MIT
#pragma once

#include "checkpointtree.h"

#include <QIcon>

namespace ckpt {

/// Icons of the tree kinds, rendered from the SVGs in resources/icons (compiled in) with
/// QSvgRenderer, so they show even where the SVG icon-engine plugin is missing. Null icons
/// without a QGuiApplication. GUI thread only.
QIcon nodeIcon(NodeKind kind);
QIcon warningIcon();
QIcon dangerIcon();
QIcon appIcon();
/// Any SVG resource, e.g. ":/icons/module.svg".
QIcon svgIcon(const QString &resource);

} // namespace ckpt
