// SPDX-License-Identifier: MIT
#pragma once

#include "checkpointtree.h"

#include <QWidget>

class QLabel;
class QTreeView;

namespace ckpt {

class KeyValueModel;

/// Dicts, lists, scalars and opaque objects as a key/value tree (epoch, loss, args, scheduler,
/// scaler, optimizer param_groups, unknown classes with their arguments and state).
class KeyValuePanel : public QWidget
{
    Q_OBJECT
public:
    explicit KeyValuePanel(QWidget *parent = nullptr);

    void setNode(std::shared_ptr<const CheckpointTree> tree, const TreeNode *node);
    void clear();
    KeyValueModel *model() const { return m_model; }
    QTreeView *view() const { return m_view; }

signals:
    /// A tensor row was activated: its index in CheckpointData::tensors.
    void tensorActivated(int tensor);

private:
    std::shared_ptr<const CheckpointTree> m_tree;
    QLabel *m_title;
    QLabel *m_subtitle;
    KeyValueModel *m_model;
    QTreeView *m_view;
};

} // namespace ckpt
