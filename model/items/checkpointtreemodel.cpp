// SPDX-License-Identifier: MIT
#include "checkpointtreemodel.h"
#include "themecolors.h"

#include "displayformat.h"
#include "kindicons.h"
#include "modelroles.h"

#include <QBrush>
#include <QColor>
#include <QFont>

namespace ckpt {

CheckpointTreeModel::CheckpointTreeModel(QObject *parent)
    : QAbstractItemModel(parent)
{
}

CheckpointTreeModel::~CheckpointTreeModel() = default;

void CheckpointTreeModel::setCheckpoint(CheckpointPtr data)
{
    setTree(data ? CheckpointTree::build(std::move(data)) : nullptr);
}

void CheckpointTreeModel::setTree(std::shared_ptr<const CheckpointTree> tree)
{
    beginResetModel();
    m_tree = std::move(tree);
    m_health.assign(m_tree ? m_tree->data()->tensors.size() : 0, 0);
    m_badBelow.clear();
    endResetModel();
}

void CheckpointTreeModel::clear()
{
    setTree(nullptr);
}

CheckpointPtr CheckpointTreeModel::checkpoint() const
{
    return m_tree ? m_tree->data() : nullptr;
}

void CheckpointTreeModel::setTensorHealth(int tensor, int flags)
{
    if (!m_tree || tensor < 0 || static_cast<std::size_t>(tensor) >= m_health.size())
        return;
    auto &slot = m_health[static_cast<std::size_t>(tensor)];
    const auto value = static_cast<std::uint8_t>(flags | HealthKnown);
    if (slot == value)
        return;
    const bool wasBad = slot & (HealthNaN | HealthInf);
    const bool isBad = value & (HealthNaN | HealthInf);
    slot = value;
    for (const TreeNode *n : m_tree->nodesForTensor(tensor)) {
        emit dataChanged(indexForNode(n, NameColumn), indexForNode(n, ColumnCount - 1),
                         {Qt::DecorationRole, Qt::ForegroundRole, Qt::ToolTipRole, HealthRole});
        if (wasBad == isBad)
            continue;
        // Ancestors say that something below them is not finite.
        for (const TreeNode *p = n->parent; p; p = p->parent) {
            int &count = m_badBelow[p];
            count += isBad ? 1 : -1;
            const QModelIndex idx = indexForNode(p, NameColumn);
            emit dataChanged(idx, idx, {Qt::ForegroundRole, Qt::ToolTipRole, HealthRole});
        }
    }
}

int CheckpointTreeModel::badBelow(const TreeNode *node) const
{
    auto it = m_badBelow.find(node);
    return it == m_badBelow.end() ? 0 : it->second;
}

int CheckpointTreeModel::tensorHealth(int tensor) const
{
    if (tensor < 0 || static_cast<std::size_t>(tensor) >= m_health.size())
        return 0;
    return m_health[static_cast<std::size_t>(tensor)];
}

const TreeNode *CheckpointTreeModel::node(const QModelIndex &index) const
{
    if (!index.isValid() || index.model() != this)
        return nullptr;
    return static_cast<const TreeNode *>(index.internalPointer());
}

QModelIndex CheckpointTreeModel::indexForNode(const TreeNode *n, int column) const
{
    if (!n || !m_tree)
        return {};
    return createIndex(n->row, column, n);
}

QModelIndex CheckpointTreeModel::indexForPath(const QString &path) const
{
    if (!m_tree)
        return {};
    return indexForNode(m_tree->findPath(path));
}

QModelIndex CheckpointTreeModel::index(int row, int column, const QModelIndex &parent) const
{
    if (!m_tree || row < 0 || column < 0 || column >= ColumnCount)
        return {};
    if (!parent.isValid())
        return row == 0 ? createIndex(0, column, m_tree->root()) : QModelIndex();
    if (parent.column() != 0)
        return {};
    const TreeNode *p = node(parent);
    if (!p || static_cast<std::size_t>(row) >= p->children.size())
        return {};
    return createIndex(row, column, p->children[static_cast<std::size_t>(row)].get());
}

QModelIndex CheckpointTreeModel::parent(const QModelIndex &child) const
{
    const TreeNode *n = node(child);
    if (!n || !n->parent)
        return {};
    return createIndex(n->parent->row, 0, n->parent);
}

int CheckpointTreeModel::rowCount(const QModelIndex &parent) const
{
    if (!m_tree)
        return 0;
    if (!parent.isValid())
        return 1;
    if (parent.column() != 0)
        return 0;
    const TreeNode *p = node(parent);
    return p ? static_cast<int>(p->children.size()) : 0;
}

int CheckpointTreeModel::columnCount(const QModelIndex &) const
{
    return ColumnCount;
}

bool CheckpointTreeModel::hasChildren(const QModelIndex &parent) const
{
    return rowCount(parent) > 0;
}

QString CheckpointTreeModel::toolTip(const TreeNode *n) const
{
    QString tip;
    if (n->kind == NodeKind::File) {
        tip = qs(m_tree->data()->file);
    } else {
        tip = n->path();
        const QString tree = n->treePath();
        if (tree != tip)
            tip += QStringLiteral("\n(tree: ") + tree + QLatin1Char(')');
        if (!n->alias.isEmpty())
            tip += tr("\nOptimizer state of %1").arg(n->alias);
    }
    if (n->dangerous)
        tip += QStringLiteral("\n⚠ torch.load would run code here (dangerous global)");
    const int health = tensorHealth(n->tensor);
    if (const int bad = badBelow(n))
        tip += QStringLiteral("\n⚠ %1 tensor row(s) below contain NaN or ±Inf").arg(bad);
    if (health & HealthNaN)
        tip += QStringLiteral("\n⚠ contains NaN");
    if (health & HealthInf)
        tip += QStringLiteral("\n⚠ contains ±Inf");
    if (health & HealthAllZero)
        tip += QStringLiteral("\nall values are zero");
    return tip;
}

QVariant CheckpointTreeModel::data(const QModelIndex &index, int role) const
{
    const TreeNode *n = node(index);
    if (!n)
        return {};
    const int column = index.column();
    const bool hasTotals = n->isTensor() || n->tensorCount > 0 || n->kind == NodeKind::Storage;
    switch (role) {
    case Qt::DisplayRole:
        switch (column) {
        case NameColumn: return n->alias.isEmpty() ? n->name : tr("%1 (id %2)").arg(n->alias, n->name);
        case KindColumn: return n->typeText;
        case ShapeColumn: return n->shapeText;
        case ElementsColumn: return hasTotals ? groupedCount(n->elements) : QString();
        case SizeColumn: return hasTotals ? humanBytes(n->bytes) : QString();
        }
        return {};
    case SortRole:
        switch (column) {
        case NameColumn: return n->name;
        case KindColumn: return n->typeText;
        case ShapeColumn: return n->shapeText;
        case ElementsColumn: return QVariant::fromValue<qulonglong>(n->elements);
        case SizeColumn: return QVariant::fromValue<qulonglong>(n->bytes);
        }
        return {};
    case Qt::DecorationRole:
        if (column != NameColumn)
            return {};
        if (n->dangerous)
            return dangerIcon();
        if (tensorHealth(n->tensor) & (HealthNaN | HealthInf))
            return warningIcon();
        return nodeIcon(n->kind);
    case Qt::ForegroundRole: {
        const int health = tensorHealth(n->tensor);
        if (n->dangerous || (health & (HealthNaN | HealthInf)))
            return QBrush(toneColor(Tone::Danger));
        if (column == NameColumn && badBelow(n))
            return QBrush(toneColor(Tone::Warning));
        if (health & HealthAllZero)
            return QBrush(toneColor(Tone::Muted));
        if (n->kind == NodeKind::More)
            return QBrush(toneColor(Tone::Muted));
        if (column == ShapeColumn && (n->kind == NodeKind::Scalar || n->kind == NodeKind::String))
            return QBrush(toneColor(Tone::Value)); // plain values read as values
        return {};
    }
    case Qt::FontRole:
        if (n->kind == NodeKind::File || (n->kind == NodeKind::More)) {
            QFont f;
            f.setBold(n->kind == NodeKind::File);
            f.setItalic(n->kind == NodeKind::More);
            return f;
        }
        if (column == NameColumn && (tensorHealth(n->tensor) & HealthAllZero)) {
            QFont f;
            f.setItalic(true);
            return f;
        }
        return {};
    case Qt::TextAlignmentRole:
        if (column == ElementsColumn || column == SizeColumn)
            return QVariant::fromValue<int>(Qt::AlignRight | Qt::AlignVCenter);
        return {};
    case Qt::ToolTipRole:
        if (column == ShapeColumn && n->value && n->kind != NodeKind::Module && !n->isTensor())
            return n->shapeText;
        if (column == SizeColumn && hasTotals)
            return QString(groupedCount(n->bytes) + QStringLiteral(" bytes"));
        return toolTip(n);
    case TensorKeyRole: return n->tensor;
    case ShapeRole: {
        if (n->tensor < 0)
            return {};
        QList<qint64> shape;
        for (auto d : m_tree->data()->tensors[static_cast<std::size_t>(n->tensor)].shape)
            shape << d;
        return QVariant::fromValue(shape);
    }
    case DTypeRole:
        return n->isTensor() && n->tensor >= 0 ? n->typeText : QString();
    case ByteSizeRole: return QVariant::fromValue<qulonglong>(n->bytes);
    case ElementCountRole: return QVariant::fromValue<qulonglong>(n->elements);
    case PathRole: return n->path();
    case TreePathRole: return n->treePath();
    case NodeKindRole: return static_cast<int>(n->kind);
    case FilterRole: return n->alias.isEmpty() ? n->name : n->alias + QLatin1Char(' ') + n->name;
    case HealthRole: return tensorHealth(n->tensor) | (badBelow(n) ? HealthBadBelow : 0);
    default: return {};
    }
}

QVariant CheckpointTreeModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal)
        return {};
    if (role == Qt::DisplayRole) {
        switch (section) {
        case NameColumn: return tr("Name");
        case KindColumn: return tr("Kind / DType");
        case ShapeColumn: return tr("Shape / Value");
        case ElementsColumn: return tr("Elements");
        case SizeColumn: return tr("Size");
        }
    }
    if (role == Qt::TextAlignmentRole && (section == ElementsColumn || section == SizeColumn))
        return QVariant::fromValue<int>(Qt::AlignRight | Qt::AlignVCenter);
    return {};
}

Qt::ItemFlags CheckpointTreeModel::flags(const QModelIndex &index) const
{
    if (!index.isValid())
        return Qt::NoItemFlags;
    return Qt::ItemIsEnabled | Qt::ItemIsSelectable;
}

QHash<int, QByteArray> CheckpointTreeModel::roleNames() const
{
    auto names = QAbstractItemModel::roleNames();
    names.insert(SortRole, "sort");
    names.insert(TensorKeyRole, "tensor");
    names.insert(PathRole, "path");
    names.insert(TreePathRole, "treePath");
    names.insert(NodeKindRole, "kind");
    return names;
}

} // namespace ckpt
