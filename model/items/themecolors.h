// SPDX-License-Identifier: MIT
#pragma once

// Colours with a meaning (danger, warning, a value, muted text, the diff statuses), chosen for
// the application's palette: the light palette gets the darker shades, a dark palette (window
// text lighter than the base) the lighter ones, so that text keeps its contrast on both.
// Every model and widget takes its colours from here instead of hard-coding them.

#include <QColor>
#include <QPalette>

#include <cstdint>

namespace ckpt {

enum class Tone : std::uint8_t {
    Danger,  ///< NaN/Inf, dangerous globals, errors
    Warning, ///< something below needs a look, uncertain mappings
    Muted,   ///< zeros, placeholders, secondary text
    Value,   ///< plain values in the tree
    Good,    ///< known-safe
};

/// True when the palette is dark (its base is darker than its text).
bool isDarkPalette(const QPalette &palette);
/// The application's palette (QGuiApplication::palette()).
QPalette appPalette();

/// Text colour of a tone, readable on the palette's base.
QColor toneColor(Tone tone, const QPalette &palette = appPalette());
/// A background of a tone for table cells, with the tone's text (or the palette's) readable on it.
QColor toneBackground(Tone tone, const QPalette &palette = appPalette());

/// `colour` mixed into `base` by `amount` (0: base, 1: colour).
QColor mixColors(const QColor &base, const QColor &colour, double amount);
/// WCAG contrast ratio of two colours (1 to 21); text wants at least 4.5.
double contrastRatio(const QColor &a, const QColor &b);

} // namespace ckpt
