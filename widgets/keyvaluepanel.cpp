// SPDX-License-Identifier: MIT
#include "keyvaluepanel.h"
#include "themecolors.h"

#include "displayformat.h"
#include "keyvaluemodel.h"
#include "modelroles.h"

#include <QHeaderView>
#include <QLabel>
#include <QTreeView>
#include <QVBoxLayout>

namespace ckpt {

KeyValuePanel::KeyValuePanel(QWidget *parent)
    : QWidget(parent)
    , m_title(new QLabel(this))
    , m_subtitle(new QLabel(this))
    , m_model(new KeyValueModel(this))
    , m_view(new QTreeView(this))
{
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(8, 6, 8, 6);
    layout->setSpacing(6);
    QFont titleFont = m_title->font();
    titleFont.setPointSizeF(titleFont.pointSizeF() * 1.2);
    titleFont.setBold(true);
    m_title->setFont(titleFont);
    m_title->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_title->setWordWrap(true);
    m_subtitle->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_subtitle->setWordWrap(true);
    layout->addWidget(m_title);
    layout->addWidget(m_subtitle);
    m_view->setModel(m_model);
    m_view->setUniformRowHeights(true);
    m_view->setAlternatingRowColors(true);
    m_view->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->header()->setStretchLastSection(true);
    m_view->setColumnWidth(0, 220);
    m_view->setColumnWidth(1, 150);
    layout->addWidget(m_view, 1);
    connect(m_view, &QTreeView::activated, this, [this](const QModelIndex &index) {
        const int t = index.siblingAtColumn(0).data(TensorKeyRole).toInt();
        if (t >= 0)
            emit tensorActivated(t);
    });
}

void KeyValuePanel::clear()
{
    m_tree.reset();
    m_title->clear();
    m_subtitle->clear();
    m_model->clear();
}

void KeyValuePanel::setNode(std::shared_ptr<const CheckpointTree> tree, const TreeNode *node)
{
    m_tree = std::move(tree);
    if (!m_tree || !node) {
        clear();
        return;
    }
    const QString path = node->path();
    m_title->setText(path.isEmpty() ? node->name : path);
    QString sub = QStringLiteral("<b>%1</b>").arg(node->typeText.toHtmlEscaped());
    if (!node->shapeText.isEmpty())
        sub += QStringLiteral(" · ") + node->shapeText.toHtmlEscaped();
    if (node->tensorCount > 0)
        sub += tr(" · %1 tensors, %2 elements, %3")
                   .arg(groupedCount(node->tensorCount), groupedCount(node->elements), humanBytes(node->bytes));
    if (node->value && node->value->offset)
        sub += tr(" · <span style='color:%1'>pickle offset %2</span>").arg(toneColor(Tone::Muted).name(), groupedCount(node->value->offset));
    m_subtitle->setText(sub);
    m_model->setValue(m_tree->data(), node->value, node->name);
    // Show the first level of small containers opened up.
    for (int r = 0; r < std::min(m_model->rowCount(), 50); ++r) {
        const QModelIndex idx = m_model->index(r, 0);
        if (m_model->rowCount(idx) > 0 && m_model->rowCount(idx) <= 12)
            m_view->expand(idx);
    }
}

} // namespace ckpt
