// SPDX-License-Identifier: MIT
#include "dtypemixmodel.h"

#include "displayformat.h"
#include "modelroles.h"

namespace ckpt {

DTypeMixModel::DTypeMixModel(QObject *parent)
    : QAbstractTableModel(parent)
{
}

void DTypeMixModel::setShares(std::vector<DTypeShare> shares)
{
    beginResetModel();
    m_shares = std::move(shares);
    m_totalBytes = 0;
    for (const auto &s : m_shares)
        m_totalBytes += s.bytes;
    endResetModel();
}

int DTypeMixModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : static_cast<int>(m_shares.size());
}

int DTypeMixModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant DTypeMixModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= rowCount())
        return {};
    const auto &s = m_shares[static_cast<std::size_t>(index.row())];
    const double share = m_totalBytes ? 100.0 * static_cast<double>(s.bytes)
                                            / static_cast<double>(m_totalBytes)
                                      : 0.0;
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case DTypeColumn: return s.dtype;
        case TensorsColumn: return groupedCount(s.tensors);
        case ElementsColumn: return groupedCount(s.elements);
        case BytesColumn: return humanBytes(s.bytes);
        case ShareColumn: return QString(QString::number(share, 'f', 1) + QLatin1Char('%'));
        }
        return {};
    case SortRole:
        switch (index.column()) {
        case DTypeColumn: return s.dtype;
        case TensorsColumn: return s.tensors;
        case ElementsColumn: return QVariant::fromValue<qulonglong>(s.elements);
        case BytesColumn: return QVariant::fromValue<qulonglong>(s.bytes);
        case ShareColumn: return share;
        }
        return {};
    case Qt::TextAlignmentRole:
        if (index.column() != DTypeColumn)
            return QVariant::fromValue<int>(Qt::AlignRight | Qt::AlignVCenter);
        return {};
    default:
        return {};
    }
}

QVariant DTypeMixModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case DTypeColumn: return tr("DType");
    case TensorsColumn: return tr("Tensors");
    case ElementsColumn: return tr("Elements");
    case BytesColumn: return tr("Size");
    case ShareColumn: return tr("Share");
    }
    return {};
}

} // namespace ckpt
