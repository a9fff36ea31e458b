// SPDX-License-Identifier: MIT
#include "tensorslicemodel.h"
#include "themecolors.h"

#include "displayformat.h"
#include "modelroles.h"

#include <QBrush>
#include <QColor>
#include <QStringList>

#include <cmath>

namespace ckpt {

SliceSpec SliceSpec::defaultFor(const std::vector<std::int64_t> &shape)
{
    SliceSpec s;
    const int rank = static_cast<int>(shape.size());
    s.index.assign(shape.size(), 0);
    if (rank >= 2) {
        s.rowAxis = rank - 2;
        s.colAxis = rank - 1;
    } else if (rank == 1) {
        s.rowAxis = 0;
    }
    return s;
}

void SliceSpec::normalize(const std::vector<std::int64_t> &shape)
{
    const int rank = static_cast<int>(shape.size());
    index.resize(shape.size(), 0);
    for (std::size_t i = 0; i < shape.size(); ++i)
        index[i] = std::clamp<std::int64_t>(index[i], 0, std::max<std::int64_t>(0, shape[i] - 1));
    if (rank == 0) {
        rowAxis = colAxis = -1;
        return;
    }
    if (rank == 1) {
        rowAxis = 0;
        colAxis = -1;
        return;
    }
    if (rowAxis < 0 || rowAxis >= rank)
        rowAxis = rank - 2;
    if (colAxis < 0 || colAxis >= rank || colAxis == rowAxis)
        colAxis = rowAxis == rank - 1 ? rank - 2 : rank - 1;
}

TensorSliceModel::TensorSliceModel(QObject *parent)
    : QAbstractTableModel(parent)
{
}

void TensorSliceModel::setTensor(CheckpointPtr data, int tensor)
{
    beginResetModel();
    m_data = std::move(data);
    m_tensor = tensor;
    m_view.reset();
    m_shape.clear();
    m_error.clear();
    if (!m_data || tensor < 0 || static_cast<std::size_t>(tensor) >= m_data->tensors.size()) {
        m_error = tr("No tensor");
    } else {
        const auto &info = m_data->tensors[static_cast<std::size_t>(tensor)];
        m_shape = info.shape;
        if (!format::isDecodable(info.dtype)) {
            m_error = tr("Values of dtype %1 cannot be shown").arg(qs(format::dtypeName(info.dtype)));
        } else {
            auto tv = format::tensorView(*m_data, tensor);
            if (tv.view)
                m_view = std::move(tv.view);
            else
                m_error = qs(tv.error);
        }
    }
    m_spec = SliceSpec::defaultFor(m_shape);
    endResetModel();
}

void TensorSliceModel::clear()
{
    setTensor(nullptr, -1);
}

void TensorSliceModel::setSlice(const SliceSpec &spec)
{
    SliceSpec s = spec;
    s.normalize(m_shape);
    if (s == m_spec)
        return;
    const bool sameLayout = s.rowAxis == m_spec.rowAxis && s.colAxis == m_spec.colAxis;
    if (sameLayout) {
        m_spec = s;
        if (rowCount() > 0 && columnCount() > 0)
            emit dataChanged(index(0, 0), index(rowCount() - 1, columnCount() - 1));
        return;
    }
    beginResetModel();
    m_spec = s;
    endResetModel();
}

bool TensorSliceModel::truncated() const
{
    auto extent = [&](int axis) { return axis >= 0 ? m_shape[static_cast<std::size_t>(axis)] : 1; };
    return extent(m_spec.rowAxis) > kMaxExtent || extent(m_spec.colAxis) > kMaxExtent;
}

std::vector<std::int64_t> TensorSliceModel::indexOf(int row, int column) const
{
    std::vector<std::int64_t> idx = m_spec.index;
    if (m_spec.rowAxis >= 0)
        idx[static_cast<std::size_t>(m_spec.rowAxis)] = row;
    if (m_spec.colAxis >= 0)
        idx[static_cast<std::size_t>(m_spec.colAxis)] = column;
    return idx;
}

int TensorSliceModel::rowCount(const QModelIndex &parent) const
{
    if (parent.isValid() || !m_view)
        return 0;
    if (m_spec.rowAxis < 0)
        return 1;
    return static_cast<int>(std::min(m_shape[static_cast<std::size_t>(m_spec.rowAxis)], kMaxExtent));
}

int TensorSliceModel::columnCount(const QModelIndex &parent) const
{
    if (parent.isValid() || !m_view)
        return 0;
    if (m_spec.colAxis < 0)
        return 1;
    return static_cast<int>(std::min(m_shape[static_cast<std::size_t>(m_spec.colAxis)], kMaxExtent));
}

QVariant TensorSliceModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || !m_view || index.row() >= rowCount() || index.column() >= columnCount())
        return {};
    switch (role) {
    case Qt::DisplayRole:
    case Qt::ToolTipRole:
    case RawValueRole:
    case Qt::ForegroundRole:
        break;
    case Qt::TextAlignmentRole:
        return QVariant::fromValue<int>(Qt::AlignRight | Qt::AlignVCenter);
    default:
        return {};
    }
    const std::vector<std::int64_t> idx = indexOf(index.row(), index.column());
    format::ElementValue v;
    try {
        v = format::elementAt(*m_view, idx);
    } catch (const std::exception &) {
        return role == Qt::DisplayRole ? QVariant(QStringLiteral("?")) : QVariant();
    }
    switch (role) {
    case Qt::DisplayRole: return qs(format::formatElement(v, m_view->dtype));
    case RawValueRole: return v.re;
    case Qt::ForegroundRole:
        if (!std::isfinite(v.re) || !std::isfinite(v.im))
            return QBrush(toneColor(Tone::Danger));
        return {};
    case Qt::ToolTipRole: {
        QStringList parts;
        for (auto i : idx)
            parts << QString::number(i);
        return QString(QLatin1Char('[') + parts.join(QStringLiteral(", ")) + QStringLiteral("] = ")
                       + qs(format::formatElement(v, m_view->dtype)));
    }
    }
    return {};
}

QVariant TensorSliceModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (role == Qt::DisplayRole)
        return QString::number(section);
    if (role == Qt::ToolTipRole) {
        const int axis = orientation == Qt::Vertical ? m_spec.rowAxis : m_spec.colAxis;
        if (axis < 0)
            return {};
        return tr("axis %1, index %2").arg(axis).arg(section);
    }
    return {};
}

} // namespace ckpt
