// SPDX-License-Identifier: MIT
#include "kindicons.h"

#include <QGuiApplication>
#include <QHash>
#include <QImage>
#include <QPainter>
#include <QPixmap>
#include <QSvgRenderer>

namespace ckpt {

QIcon svgIcon(const QString &resource)
{
    if (!qobject_cast<QGuiApplication *>(QCoreApplication::instance()))
        return {};
    static QHash<QString, QIcon> cache;
    auto it = cache.constFind(resource);
    if (it != cache.constEnd())
        return *it;
    QIcon icon;
    QSvgRenderer renderer(resource);
    if (renderer.isValid()) {
        for (int size : {16, 20, 24, 32, 48, 64, 128, 256}) {
            QImage image(size, size, QImage::Format_ARGB32_Premultiplied);
            image.fill(Qt::transparent);
            QPainter painter(&image);
            painter.setRenderHint(QPainter::Antialiasing);
            renderer.render(&painter, QRectF(0, 0, size, size));
            painter.end();
            icon.addPixmap(QPixmap::fromImage(image));
        }
    }
    cache.insert(resource, icon);
    return icon;
}

QIcon nodeIcon(NodeKind kind)
{
    switch (kind) {
    case NodeKind::File: return svgIcon(QStringLiteral(":/icons/file.svg"));
    case NodeKind::Module: return svgIcon(QStringLiteral(":/icons/module.svg"));
    case NodeKind::Parameter: return svgIcon(QStringLiteral(":/icons/parameter.svg"));
    case NodeKind::Buffer: return svgIcon(QStringLiteral(":/icons/buffer.svg"));
    case NodeKind::Tensor:
    case NodeKind::Storage: return svgIcon(QStringLiteral(":/icons/tensor.svg"));
    case NodeKind::Dict: return svgIcon(QStringLiteral(":/icons/dict.svg"));
    case NodeKind::List: return svgIcon(QStringLiteral(":/icons/list.svg"));
    case NodeKind::Scalar:
    case NodeKind::String: return svgIcon(QStringLiteral(":/icons/scalar.svg"));
    case NodeKind::Object: return svgIcon(QStringLiteral(":/icons/object.svg"));
    case NodeKind::More: return {};
    }
    return {};
}

QIcon warningIcon()
{
    return svgIcon(QStringLiteral(":/icons/warning.svg"));
}

QIcon dangerIcon()
{
    return svgIcon(QStringLiteral(":/icons/danger.svg"));
}

QIcon appIcon()
{
    return svgIcon(QStringLiteral(":/icons/ckpt-browser.svg"));
}

} // namespace ckpt
