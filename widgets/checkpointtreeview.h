// SPDX-License-Identifier: MIT
#pragma once

#include <QTreeView>

namespace ckpt {

/// The checkpoint tree: sortable columns (original order until a header is clicked; a third
/// click restores it), Ctrl+C copies the selected row's raw path, a context menu copies paths
/// and expands or collapses subtrees.
class CheckpointTreeView : public QTreeView
{
    Q_OBJECT
public:
    explicit CheckpointTreeView(QWidget *parent = nullptr);

    /// Column widths that fit typical checkpoints (Name wide, numbers compact).
    void applyDefaultColumnWidths();
    /// Copies the raw path of the current row to the clipboard; returns it.
    QString copyCurrentPath();

signals:
    void pathCopied(const QString &path);

protected:
    void keyPressEvent(QKeyEvent *event) override;
    void contextMenuEvent(QContextMenuEvent *event) override;
    void resizeEvent(QResizeEvent *event) override;

private:
    /// Sizes the Name column to the space the other columns leave, until the user resizes it.
    void fitNameColumn();

    bool m_nameColumnUserSized = false;
    bool m_fitting = false;
};

} // namespace ckpt
