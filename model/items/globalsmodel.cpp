// SPDX-License-Identifier: MIT
#include "globalsmodel.h"
#include "themecolors.h"

#include "displayformat.h"
#include "kindicons.h"
#include "modelroles.h"

#include <QBrush>
#include <QColor>
#include <QFont>

namespace ckpt {

using format::GlobalClass;

GlobalsModel::GlobalsModel(QObject *parent)
    : QAbstractTableModel(parent)
{
}

void GlobalsModel::setCheckpoint(CheckpointPtr data)
{
    beginResetModel();
    m_data = std::move(data);
    endResetModel();
}

int GlobalsModel::dangerousCount() const
{
    int n = 0;
    if (m_data)
        for (const auto &g : m_data->globals)
            n += g.cls == GlobalClass::Dangerous;
    return n;
}

QStringList GlobalsModel::dangerousNames() const
{
    QStringList out;
    if (m_data)
        for (const auto &g : m_data->globals)
            if (g.cls == GlobalClass::Dangerous)
                out << qs(g.module) + QLatin1Char('.') + qs(g.name);
    return out;
}

int GlobalsModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() || !m_data ? 0 : static_cast<int>(m_data->globals.size());
}

int GlobalsModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QString GlobalsModel::classDescription(GlobalClass cls)
{
    switch (cls) {
    case GlobalClass::Tensor: return tr("Builds tensors and storages");
    case GlobalClass::Value: return tr("A plain value type (OrderedDict, dtype, device, …)");
    case GlobalClass::Known: return tr("A known structure, shown by its attributes");
    case GlobalClass::Opaque: return tr("Unknown class: torch.load would import it and call it; shown as an opaque object here");
    case GlobalClass::Dangerous: return tr("Would run code under torch.load (e.g. os.system, eval, subprocess). Never load this file with torch.load.");
    }
    return {};
}

QVariant GlobalsModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || !m_data || index.row() >= rowCount())
        return {};
    const auto &g = m_data->globals[static_cast<std::size_t>(index.row())];
    const bool hasOffset = g.firstOffset != format::FormatError::kNoOffset;
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case GlobalColumn: return QString(qs(g.module) + QLatin1Char('.') + qs(g.name));
        case ClassColumn: return qs(format::globalClassName(g.cls));
        case CountColumn: return groupedCount(g.count);
        case RecordColumn: return qs(g.record);
        case OffsetColumn: return hasOffset ? groupedCount(g.firstOffset) : QString();
        }
        return {};
    case SortRole:
        switch (index.column()) {
        case GlobalColumn: return QString(qs(g.module) + QLatin1Char('.') + qs(g.name));
        case ClassColumn: return static_cast<int>(g.cls);
        case CountColumn: return QVariant::fromValue<qulonglong>(g.count);
        case RecordColumn: return qs(g.record);
        case OffsetColumn: return QVariant::fromValue<qulonglong>(g.firstOffset);
        }
        return {};
    case Qt::DecorationRole:
        if (index.column() == GlobalColumn && g.cls == GlobalClass::Dangerous)
            return dangerIcon();
        if (index.column() == GlobalColumn && g.cls == GlobalClass::Opaque)
            return warningIcon();
        return {};
    case Qt::BackgroundRole:
        if (g.cls == GlobalClass::Dangerous)
            return QBrush(toneBackground(Tone::Danger));
        if (g.cls == GlobalClass::Opaque)
            return QBrush(toneBackground(Tone::Warning));
        return {};
    case Qt::ForegroundRole:
        if (g.cls == GlobalClass::Dangerous)
            return QBrush(toneColor(Tone::Danger));
        if (g.cls == GlobalClass::Opaque)
            return QBrush(appPalette().color(QPalette::Text));
        return {};
    case Qt::FontRole:
        if (g.cls == GlobalClass::Dangerous) {
            QFont f;
            f.setBold(true);
            return f;
        }
        return {};
    case Qt::TextAlignmentRole:
        if (index.column() == CountColumn || index.column() == OffsetColumn)
            return QVariant::fromValue<int>(Qt::AlignRight | Qt::AlignVCenter);
        return {};
    case Qt::ToolTipRole:
        return classDescription(g.cls);
    default:
        return {};
    }
}

QVariant GlobalsModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal)
        return {};
    if (role == Qt::DisplayRole) {
        switch (section) {
        case GlobalColumn: return tr("Global");
        case ClassColumn: return tr("Class");
        case CountColumn: return tr("Uses");
        case RecordColumn: return tr("Pickle");
        case OffsetColumn: return tr("First offset");
        }
    }
    return {};
}

} // namespace ckpt
