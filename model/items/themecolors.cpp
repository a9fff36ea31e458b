// SPDX-License-Identifier: MIT
#include "themecolors.h"

#include <QGuiApplication>

#include <algorithm>
#include <cmath>

namespace ckpt {

bool isDarkPalette(const QPalette &palette)
{
    return palette.color(QPalette::Base).lightnessF() < palette.color(QPalette::Text).lightnessF();
}

QPalette appPalette()
{
    return QGuiApplication::palette();
}

QColor toneColor(Tone tone, const QPalette &palette)
{
    const bool dark = isDarkPalette(palette);
    switch (tone) {
    case Tone::Danger: return dark ? QColor(0xff, 0x7b, 0x72) : QColor(0xc6, 0x28, 0x28);
    case Tone::Warning: return dark ? QColor(0xf0, 0xa5, 0x4a) : QColor(0xb2, 0x4a, 0x00);
    case Tone::Muted: return dark ? QColor(0xa0, 0xa0, 0xa0) : QColor(0x6e, 0x6e, 0x6e);
    case Tone::Value: return dark ? QColor(0x79, 0xb8, 0xff) : QColor(0x1d, 0x5f, 0x9e);
    case Tone::Good: return dark ? QColor(0x7e, 0xd3, 0x87) : QColor(0x2e, 0x7d, 0x32);
    }
    return palette.color(QPalette::Text);
}

QColor toneBackground(Tone tone, const QPalette &palette)
{
    return mixColors(palette.color(QPalette::Base), toneColor(tone, palette), isDarkPalette(palette) ? 0.22 : 0.14);
}

QColor mixColors(const QColor &base, const QColor &colour, double amount)
{
    const auto mix = [amount](double a, double b) { return a + (b - a) * amount; };
    return QColor::fromRgbF(static_cast<float>(mix(base.redF(), colour.redF())),
                            static_cast<float>(mix(base.greenF(), colour.greenF())),
                            static_cast<float>(mix(base.blueF(), colour.blueF())));
}

double contrastRatio(const QColor &a, const QColor &b)
{
    const auto luminance = [](const QColor &c) {
        const auto channel = [](double v) { return v <= 0.03928 ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4); };
        return 0.2126 * channel(c.redF()) + 0.7152 * channel(c.greenF()) + 0.0722 * channel(c.blueF());
    };
    const double la = luminance(a), lb = luminance(b);
    return (std::max(la, lb) + 0.05) / (std::min(la, lb) + 0.05);
}

} // namespace ckpt
