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
    /// Widens `columns` to their contents (the shown rows), so that numbers are never elided;
    /// never narrower than now, at most `maxWidth`. The Name column then takes what is left.
    void fitColumnsToContents(const QList<int> &columns, int maxWidth = 260);
    /// The columns that are not the Name column keep their size; the Name column takes the
    /// viewport's remaining width, at least `minimum` (default 180 px).
    void setNameColumnMinimum(int minimum) { m_nameMinimum = minimum; }
    /// The Name column follows the viewport's width again (after widths were set by code).
    void refitNameColumn()
    {
        m_nameColumnUserSized = false;
        fitNameColumn();
    }
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
    int m_nameMinimum = 180;
    bool m_fitting = false;
};

} // namespace ckpt
