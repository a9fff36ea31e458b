// SPDX-License-Identifier: MIT
#include "diffvaluemodel.h"

#include "diffmodel.h"
#include "displayformat.h"
#include "modelroles.h"

#include <QBrush>

#include <cmath>
#include <limits>

namespace ckpt {

namespace {

/// A Python repr that is a number (`1`, `0.001`, `-inf`), or nothing (`True`, `'adam'`, ...).
std::optional<double> number(const QString &repr)
{
    bool ok = false;
    const double v = repr.toDouble(&ok);
    if (ok)
        return v;
    if (repr == QLatin1String("inf") || repr == QLatin1String("-inf") || repr == QLatin1String("nan"))
        return repr == QLatin1String("nan") ? std::numeric_limits<double>::quiet_NaN()
                                             : (repr.startsWith(QLatin1Char('-')) ? -1.0 : 1.0)
                * std::numeric_limits<double>::infinity();
    return std::nullopt;
}

/// The value of a 0-d tensor, read through the map.
std::optional<double> scalarTensor(const CheckpointPtr &data, int tensor, QString &text)
{
    if (!data || tensor < 0 || static_cast<std::size_t>(tensor) >= data->tensors.size())
        return std::nullopt;
    const auto &info = data->tensors[static_cast<std::size_t>(tensor)];
    const QString dtype = qs(format::dtypeName(info.dtype));
    if (!format::isDecodable(info.dtype)) {
        text = dtype + QStringLiteral(" []");
        return std::nullopt;
    }
    const auto tv = format::tensorView(*data, tensor);
    if (!tv.view) {
        text = dtype + QStringLiteral(" [] (") + qs(tv.error) + QLatin1Char(')');
        return std::nullopt;
    }
    try {
        const format::ElementValue e = format::elementAt(*tv.view, std::vector<std::int64_t>(info.shape.size(), 0));
        text = QStringLiteral("%1 (%2)").arg(numberText(e.re, 8), dtype);
        return e.re;
    } catch (const std::exception &ex) {
        text = dtype + QStringLiteral(" [] (") + qs(ex.what()) + QLatin1Char(')');
        return std::nullopt;
    }
}

bool isScalarTensor(const std::optional<DiffSide> &s)
{
    if (!s || s->tensor < 0)
        return false;
    std::int64_t n = 1;
    for (auto d : s->shape)
        n *= d;
    return s->shape.empty() || (n == 1 && s->shape.size() <= 1);
}

} // namespace

DiffValueModel::DiffValueModel(QObject *parent)
    : QAbstractTableModel(parent)
{
}

void DiffValueModel::setResult(const DiffResult &result, CheckpointPtr a, CheckpointPtr b)
{
    beginResetModel();
    m_rows.clear();
    for (std::size_t i = 0; i < result.entries.size(); ++i) {
        const DiffEntry &e = result.entries[i];
        const bool scalar = e.isTensor && (isScalarTensor(e.a) || isScalarTensor(e.b))
            && (!e.a || isScalarTensor(e.a)) && (!e.b || isScalarTensor(e.b));
        if (e.isTensor && !scalar)
            continue;
        Row r;
        r.entry = static_cast<int>(i);
        r.path = qs(e.path());
        r.status = e.status;
        auto side = [&](const std::optional<DiffSide> &s, const CheckpointPtr &data, QString &text,
                        std::optional<double> &num) {
            if (!s) {
                text = QStringLiteral("—");
            } else if (e.isTensor) {
                num = scalarTensor(data, s->tensor, text);
            } else {
                text = qs(s->value);
                num = number(text);
            }
        };
        side(e.a, a, r.a, r.numA);
        side(e.b, b, r.b, r.numB);
        // Top-level values first (epoch, loss), then nested plain values (lr, args), then
        // nested 0-d tensors (num_batches_tracked, optimizer steps).
        r.group = e.keys.size() <= 1 ? 0 : (e.isTensor ? 2 : 1);
        m_rows.push_back(std::move(r));
    }
    std::stable_sort(m_rows.begin(), m_rows.end(), [](const Row &l, const Row &r) { return l.group < r.group; });
    m_rowOfEntry.clear();
    for (std::size_t i = 0; i < m_rows.size(); ++i)
        m_rowOfEntry.insert(m_rows[i].entry, static_cast<int>(i));
    endResetModel();
}

void DiffValueModel::clear()
{
    beginResetModel();
    m_rows.clear();
    m_rowOfEntry.clear();
    endResetModel();
}

void DiffValueModel::updateEntries(const std::vector<std::pair<int, DiffEntry>> &batch)
{
    if (m_rows.empty())
        return;
    for (const auto &[entry, e] : batch) {
        const int row = m_rowOfEntry.value(entry, -1);
        if (row < 0 || m_rows[static_cast<std::size_t>(row)].status == e.status)
            continue;
        m_rows[static_cast<std::size_t>(row)].status = e.status;
        emit dataChanged(index(row, 0), index(row, ColumnCount - 1));
    }
}

int DiffValueModel::rowForPath(const QString &path) const
{
    for (std::size_t i = 0; i < m_rows.size(); ++i)
        if (m_rows[i].path == path)
            return static_cast<int>(i);
    return -1;
}

int DiffValueModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : static_cast<int>(m_rows.size());
}

int DiffValueModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QString DiffValueModel::changeText(const Row &r) const
{
    if (!r.numA || !r.numB || r.status == DiffStatus::Same)
        return {};
    const double d = *r.numB - *r.numA;
    QString text = (d > 0 ? QStringLiteral("+") : QString()) + numberText(d, 6);
    if (*r.numA != 0 && std::isfinite(*r.numA) && std::isfinite(*r.numB))
        text += QStringLiteral("  (×%1)").arg(numberText(*r.numB / *r.numA, 4));
    return text;
}

QVariant DiffValueModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= static_cast<int>(m_rows.size()))
        return {};
    const Row &r = m_rows[static_cast<std::size_t>(index.row())];
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case PathColumn: return r.path;
        case AColumn: return r.a;
        case BColumn: return r.b;
        case ChangeColumn: return changeText(r);
        case StatusColumn: return qs(diffStatusName(r.status));
        default: return {};
        }
    case SortRole:
        switch (index.column()) {
        case ChangeColumn:
            if (r.numA && r.numB)
                return *r.numB - *r.numA;
            return -std::numeric_limits<double>::infinity();
        case StatusColumn: return static_cast<int>(r.status == DiffStatus::Same ? 0 : 1 + static_cast<int>(r.status));
        default: return data(index, Qt::DisplayRole);
        }
    case Qt::ToolTipRole:
        return QStringLiteral("%1\nA: %2\nB: %3").arg(r.path, r.a, r.b);
    case Qt::ForegroundRole:
        if (index.column() == StatusColumn)
            return QBrush(diffStatusColor(r.status));
        return {};
    case Qt::BackgroundRole:
        if (r.status != DiffStatus::Same && (index.column() == StatusColumn || index.column() == BColumn))
            return QBrush(diffStatusBackground(r.status));
        return {};
    case PathRole:
    case TreePathRole:
    case FilterRole: return r.path;
    case DiffStatusRole: return static_cast<int>(r.status);
    case DiffersRole: return r.status != DiffStatus::Same;
    case DiffEntryRole: return r.entry;
    default: return {};
    }
}

QVariant DiffValueModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case PathColumn: return tr("Path");
    case AColumn: return tr("A");
    case BColumn: return tr("B");
    case ChangeColumn: return tr("B − A");
    case StatusColumn: return tr("Status");
    default: return {};
    }
}

} // namespace ckpt
