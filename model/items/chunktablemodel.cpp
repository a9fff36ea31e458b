// SPDX-License-Identifier: MIT
#include "chunktablemodel.h"

#include "displayformat.h"
#include "modelroles.h"

#include <cmath>

namespace ckpt {

namespace {

std::uint64_t elementsOf(const format::TensorChunk &c)
{
    std::uint64_t n = 1;
    for (const std::int64_t s : c.sizes)
        n *= static_cast<std::uint64_t>(std::max<std::int64_t>(s, 0));
    return n;
}

} // namespace

ChunkTableModel::ChunkTableModel(QObject *parent)
    : QAbstractTableModel(parent)
{
}

void ChunkTableModel::setChunks(std::vector<format::TensorChunk> chunks)
{
    beginResetModel();
    m_chunks = std::move(chunks);
    endResetModel();
}

QColor ChunkTableModel::colorOfRank(int rank)
{
    if (rank < 0)
        return QColor::fromHsv(0, 0, 160);
    // Golden-angle steps around the hue circle: ranks next to each other never look alike.
    const double hue = std::fmod(210.0 + 137.507764 * rank, 360.0);
    return QColor::fromHsv(static_cast<int>(hue), 150, 215);
}

QString ChunkTableModel::boxText(const format::TensorChunk &chunk)
{
    QString text;
    for (std::size_t d = 0; d < chunk.offsets.size() && d < chunk.sizes.size(); ++d)
        text += (d ? QStringLiteral(", ") : QString())
                + QStringLiteral("%1:%2").arg(chunk.offsets[d]).arg(chunk.offsets[d] + chunk.sizes[d]);
    return text;
}

int ChunkTableModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : static_cast<int>(m_chunks.size());
}

int ChunkTableModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant ChunkTableModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= rowCount() || index.column() >= ColumnCount)
        return {};
    const format::TensorChunk &c = m_chunks[static_cast<std::size_t>(index.row())];
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case RankColumn: return c.rank >= 0 ? QVariant(c.rank) : QVariant(tr("?"));
        case BoxColumn: return boxText(c);
        case ElementsColumn: return groupedCount(elementsOf(c));
        case FileColumn: return qs(c.file);
        case RecordColumn:
            return QStringLiteral("%1 – %2").arg(groupedCount(c.byteOffset), groupedCount(c.byteOffset + c.byteLength));
        case BytesColumn: return humanBytes(c.byteLength);
        }
        return {};
    case SortRole:
        switch (index.column()) {
        case RankColumn: return c.rank;
        case BoxColumn: return c.offsets.empty() ? qint64(0) : qint64(c.offsets.front());
        case ElementsColumn: return QVariant::fromValue<qulonglong>(elementsOf(c));
        case FileColumn: return qs(c.file);
        case RecordColumn: return QVariant::fromValue<qulonglong>(c.byteOffset);
        case BytesColumn: return QVariant::fromValue<qulonglong>(c.byteLength);
        }
        return {};
    case Qt::DecorationRole:
        if (index.column() == RankColumn)
            return colorOfRank(c.rank);
        return {};
    case Qt::ToolTipRole:
        return tr("Rank %1 holds [%2] of the tensor in %3, bytes %4 to %5")
            .arg(c.rank)
            .arg(boxText(c), qs(c.file))
            .arg(c.byteOffset)
            .arg(c.byteOffset + c.byteLength);
    case Qt::TextAlignmentRole:
        if (index.column() == ElementsColumn || index.column() == BytesColumn || index.column() == RecordColumn)
            return QVariant::fromValue<int>(Qt::AlignRight | Qt::AlignVCenter);
        return {};
    default:
        return {};
    }
}

QVariant ChunkTableModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case RankColumn: return tr("Rank");
    case BoxColumn: return tr("Holds");
    case ElementsColumn: return tr("Elements");
    case FileColumn: return tr("File");
    case RecordColumn: return tr("Bytes in file");
    case BytesColumn: return tr("Size");
    }
    return {};
}

} // namespace ckpt
