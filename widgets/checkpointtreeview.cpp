// SPDX-License-Identifier: MIT
#include "checkpointtreeview.h"

#include "modelroles.h"

#include <QApplication>
#include <QClipboard>
#include <QContextMenuEvent>
#include <QHeaderView>
#include <QKeyEvent>
#include <QMenu>

namespace ckpt {

CheckpointTreeView::CheckpointTreeView(QWidget *parent)
    : QTreeView(parent)
{
    setUniformRowHeights(true);
    setAlternatingRowColors(true);
    setSelectionMode(QAbstractItemView::SingleSelection);
    setSelectionBehavior(QAbstractItemView::SelectRows);
    setEditTriggers(QAbstractItemView::NoEditTriggers);
    setAllColumnsShowFocus(true);
    // Long names keep both ends (`model_state_dict/…/attn.qkv.weight`); the tooltip has all.
    setTextElideMode(Qt::ElideMiddle);
    setExpandsOnDoubleClick(true);
    header()->setSortIndicator(-1, Qt::AscendingOrder);
    header()->setSortIndicatorClearable(true);
    header()->setStretchLastSection(false);
    header()->setDefaultAlignment(Qt::AlignLeft | Qt::AlignVCenter);
    setSortingEnabled(true);
    connect(header(), &QHeaderView::sectionResized, this, [this](int section) {
        if (section == 0 && !m_fitting)
            m_nameColumnUserSized = true;
    });
}

void CheckpointTreeView::resizeEvent(QResizeEvent *event)
{
    QTreeView::resizeEvent(event);
    fitNameColumn();
}

void CheckpointTreeView::fitNameColumn()
{
    if (m_nameColumnUserSized || !model() || header()->count() < 2)
        return;
    int others = 0;
    for (int c = 1; c < header()->count(); ++c)
        if (!header()->isSectionHidden(c))
            others += header()->sectionSize(c);
    const int width = std::max(m_nameMinimum, viewport()->width() - others);
    m_fitting = true;
    setColumnWidth(0, width);
    m_fitting = false;
}

void CheckpointTreeView::applyDefaultColumnWidths()
{
    const QFontMetrics fm(font());
    const int digit = fm.horizontalAdvance(QLatin1Char('0'));
    m_fitting = true;
    setColumnWidth(0, std::max(230, 28 * digit));
    setColumnWidth(1, std::max(95, 12 * digit));
    setColumnWidth(2, std::max(105, 13 * digit));
    setColumnWidth(3, std::max(88, 12 * digit));
    setColumnWidth(4, std::max(70, 9 * digit));
    m_fitting = false;
    m_nameColumnUserSized = false;
    fitNameColumn();
}

void CheckpointTreeView::fitColumnsToContents(const QList<int> &columns, int maxWidth)
{
    m_fitting = true;
    for (int c : columns) {
        const int before = columnWidth(c);
        const int wanted = std::min(maxWidth, sizeHintForColumn(c));
        if (wanted > before)
            setColumnWidth(c, wanted);
    }
    m_fitting = false;
    fitNameColumn();
}

QString CheckpointTreeView::copyCurrentPath()
{
    const QModelIndex idx = currentIndex();
    if (!idx.isValid())
        return {};
    const QString path = idx.siblingAtColumn(0).data(PathRole).toString();
    QApplication::clipboard()->setText(path);
    emit pathCopied(path);
    return path;
}

void CheckpointTreeView::keyPressEvent(QKeyEvent *event)
{
    if (event == QKeySequence::Copy) {
        copyCurrentPath();
        event->accept();
        return;
    }
    QTreeView::keyPressEvent(event);
}

void CheckpointTreeView::contextMenuEvent(QContextMenuEvent *event)
{
    const QModelIndex idx = indexAt(event->pos());
    if (!idx.isValid())
        return;
    setCurrentIndex(idx);
    const QModelIndex first = idx.siblingAtColumn(0);
    const QString raw = first.data(PathRole).toString();
    const QString tree = first.data(TreePathRole).toString();
    QMenu menu(this);
    QAction *copy = menu.addAction(tr("Copy Path"), this, [this] { copyCurrentPath(); });
    copy->setShortcut(QKeySequence::Copy);
    if (tree != raw) {
        menu.addAction(tr("Copy Tree Path"), this, [tree] {
            QApplication::clipboard()->setText(tree);
        });
    }
    menu.addAction(tr("Copy Name"), this, [first] {
        QApplication::clipboard()->setText(first.data().toString());
    });
    if (model()->hasChildren(first)) {
        menu.addSeparator();
        menu.addAction(tr("Expand All Below"), this, [this, first] { expandRecursively(first); });
        menu.addAction(tr("Collapse All Below"), this, [this, first] {
            collapse(first);
            std::function<void(const QModelIndex &)> rec = [&](const QModelIndex &p) {
                for (int r = 0; r < model()->rowCount(p); ++r) {
                    const QModelIndex c = model()->index(r, 0, p);
                    collapse(c);
                    rec(c);
                }
            };
            rec(first);
        });
    }
    menu.exec(event->globalPos());
}

} // namespace ckpt
