// SPDX-License-Identifier: MIT
#include "securitypanel.h"

#include "displayformat.h"
#include "globalsmodel.h"
#include "messagebar.h"
#include "modelroles.h"

#include <QHeaderView>
#include <QLabel>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QVBoxLayout>

namespace ckpt {

SecurityPanel::SecurityPanel(QWidget *parent)
    : QWidget(parent)
    , m_banner(new MessageBar(this))
    , m_heading(new QLabel(this))
    , m_model(new GlobalsModel(this))
    , m_proxy(new QSortFilterProxyModel(this))
    , m_view(new QTableView(this))
{
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(6);
    m_heading->setWordWrap(true);
    layout->addWidget(m_heading);
    layout->addWidget(m_banner);
    m_proxy->setSourceModel(m_model);
    m_proxy->setSortRole(SortRole);
    m_view->setModel(m_proxy);
    m_view->setSortingEnabled(true);
    m_view->horizontalHeader()->setSortIndicator(-1, Qt::AscendingOrder);
    m_view->horizontalHeader()->setSortIndicatorClearable(true);
    m_view->verticalHeader()->hide();
    m_view->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->setWordWrap(false);
    m_view->verticalHeader()->setDefaultSectionSize(m_view->fontMetrics().height() + 6);
    m_view->horizontalHeader()->setSectionResizeMode(GlobalsModel::GlobalColumn, QHeaderView::Stretch);
    m_view->setColumnWidth(GlobalsModel::ClassColumn, 90);
    m_view->setColumnWidth(GlobalsModel::CountColumn, 60);
    m_view->setColumnWidth(GlobalsModel::RecordColumn, 160);
    m_view->setColumnWidth(GlobalsModel::OffsetColumn, 90);
    layout->addWidget(m_view, 1);
}

void SecurityPanel::setCheckpoint(CheckpointPtr checkpoint)
{
    m_model->setCheckpoint(checkpoint);
    const int total = m_model->rowCount();
    int opaque = 0;
    if (checkpoint)
        for (const auto &g : checkpoint->globals)
            opaque += g.cls == format::GlobalClass::Opaque;
    m_heading->setText(tr("<b>Security</b> — %1 referenced by the pickle; nothing from the file is "
                          "executed here.")
                           .arg(countNoun(static_cast<std::uint64_t>(total), "global", "globals")));
    const int dangerous = m_model->dangerousCount();
    m_banner->clearButtons();
    if (dangerous > 0) {
        QStringList names = m_model->dangerousNames();
        if (names.size() > 6)
            names = names.mid(0, 6) << QStringLiteral("…");
        m_banner->showMessage(MessageBar::Type::Error,
                              tr("<b>Dangerous: this file would run code when loaded with torch.load.</b><br>"
                                 "It references %1. Do not load it with torch.load (weights_only=False); "
                                 "browsing it here is safe.")
                                  .arg(names.join(QStringLiteral(", ")).toHtmlEscaped()));
    } else if (opaque > 0) {
        m_banner->showMessage(MessageBar::Type::Warning,
                              tr("%1 outside torch's usual set: torch.load would import them "
                                 "(shown here as opaque objects). No known code-running globals.")
                                  .arg(countNoun(static_cast<std::uint64_t>(opaque), "class", "classes")));
    } else if (checkpoint && !checkpoint->globals.empty()) {
        m_banner->showMessage(MessageBar::Type::Positive,
                              tr("No dangerous globals: only tensor builders and plain value types."));
    } else if (checkpoint && (checkpoint->format == format::ContainerFormat::Safetensors
                              || checkpoint->format == format::ContainerFormat::Index)) {
        m_banner->showMessage(MessageBar::Type::Positive,
                              tr("safetensors holds no pickle: nothing in this format can run code."));
    } else {
        m_banner->showMessage(MessageBar::Type::Info, tr("The file references no Python globals."));
    }
    m_view->setVisible(total > 0);
    m_view->resizeColumnToContents(GlobalsModel::ClassColumn);
}

} // namespace ckpt
