// SPDX-License-Identifier: MIT
#pragma once

// Keeping widgets readable in any palette: plots take their background, axes, grid, legend and
// text from the palette (QCustomPlot draws with its own pens, black on white by default), and
// secondary labels take the muted tone. Both follow a palette change at run time.

#include "themecolors.h"

#include <QPalette>
#include <QString>

class QCustomPlot;
class QWidget;

namespace ckpt {

/// A dark palette for the Fusion style (what `ckpt-browser --palette dark` and the dark
/// screenshot tests use; a desktop's own dark theme works the same way).
QPalette darkPalette();

/// Styles `plot` from its palette now and again whenever the palette changes (then replots).
void followPalette(QCustomPlot *plot);
/// Applies the palette's colours to every axis, grid, legend and text item of `plot`.
void applyPlotPalette(QCustomPlot *plot);

/// As many x tick labels as fit side by side (call on afterLayout): long labels such as
/// "-0.0005007" overlapped at QCustomPlot's fixed count.
void fitValueTicks(QCustomPlot *plot);

/// Shows `label`'s text in the muted tone of the current palette, with `css` (for example
/// "font-size: 11pt;") kept; follows palette changes.
void useMutedText(QWidget *label, const QString &css = QString());

} // namespace ckpt
