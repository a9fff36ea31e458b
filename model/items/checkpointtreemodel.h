// SPDX-License-Identifier: MIT
#pragma once

#include "checkpointtree.h"

#include <QAbstractItemModel>

#include <memory>
#include <unordered_map>
#include <vector>

namespace ckpt {

/// The checkpoint tree (CheckpointTree) as an item model: one top-level row for the file, then
/// dict keys, list indices, object attributes, and module nodes for dotted state-dict keys.
/// Thread affinity: the GUI thread.
class CheckpointTreeModel : public QAbstractItemModel
{
    Q_OBJECT
public:
    enum Column { NameColumn, KindColumn, ShapeColumn, ElementsColumn, SizeColumn, ColumnCount };

    explicit CheckpointTreeModel(QObject *parent = nullptr);
    ~CheckpointTreeModel() override;

    /// Builds the tree of `data` (on the calling thread) and resets the model.
    void setCheckpoint(CheckpointPtr data);
    /// Shows a tree built elsewhere (e.g. by CheckpointLoadJob on a worker thread).
    void setTree(std::shared_ptr<const CheckpointTree> tree);
    void clear();
    const std::shared_ptr<const CheckpointTree> &tree() const noexcept { return m_tree; }
    CheckpointPtr checkpoint() const;

    /// Marks every row of tensor `tensor` with its statistics-derived flags (TensorHealth).
    void setTensorHealth(int tensor, int flags);
    int tensorHealth(int tensor) const;
    /// Tensor rows with NaN/Inf below `node` (0 while unknown).
    int badBelow(const TreeNode *node) const;

    const TreeNode *node(const QModelIndex &index) const;
    QModelIndex indexForNode(const TreeNode *node, int column = 0) const;
    /// Raw or tree path (see CheckpointTree::findPath).
    QModelIndex indexForPath(const QString &path) const;

    QModelIndex index(int row, int column, const QModelIndex &parent = {}) const override;
    QModelIndex parent(const QModelIndex &child) const override;
    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    bool hasChildren(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;
    Qt::ItemFlags flags(const QModelIndex &index) const override;
    QHash<int, QByteArray> roleNames() const override;

private:
    QString toolTip(const TreeNode *n) const;

    std::shared_ptr<const CheckpointTree> m_tree;
    std::vector<std::uint8_t> m_health;
    /// Rows above tensors with NaN/Inf: how many such tensor rows are below them.
    std::unordered_map<const TreeNode *, int> m_badBelow;
};

} // namespace ckpt
