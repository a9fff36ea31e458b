// SPDX-License-Identifier: MIT
#pragma once

#include "modeltypes.h"

#include <QAbstractItemModel>

#include <memory>
#include <vector>

namespace ckpt {

/// A key/value tree over one value of the value graph: dict entries, list items, an object's
/// class, arguments and attributes, a scalar's repr. A node's rows are built the first time a
/// view asks for them (they are fixed by the graph, so no signal is needed), which keeps cyclic
/// and huge graphs cheap. Thread affinity: the GUI thread.
class KeyValueModel : public QAbstractItemModel
{
    Q_OBJECT
public:
    enum Column { KeyColumn, TypeColumn, ValueColumn, ColumnCount };

    explicit KeyValueModel(QObject *parent = nullptr);
    ~KeyValueModel() override;

    /// Shows `value` (owned by `data`'s graph): a container's entries as top-level rows, or a
    /// single row named `name` for anything else.
    void setValue(CheckpointPtr data, const format::Value *value, const QString &name = {});
    void clear();

    /// Text of a value's type ("int", "OrderedDict", "argparse.Namespace", "tensor").
    static QString typeText(const format::Value *v);
    /// One-line text of a value (repr, elided).
    QString valueText(const format::Value *v, int maxChars = 200) const;

    QModelIndex index(int row, int column, const QModelIndex &parent = {}) const override;
    QModelIndex parent(const QModelIndex &child) const override;
    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    bool hasChildren(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;

private:
    struct Node;
    Node *nodeOf(const QModelIndex &index) const;
    void populate(Node *node) const;
    bool isAncestor(const Node *node, const format::Value *v) const;

    CheckpointPtr m_data;
    std::unique_ptr<Node> m_root;
};

} // namespace ckpt
