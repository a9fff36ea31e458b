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
    const format::SecurityScan *scan = checkpoint ? checkpoint->security.get() : nullptr;
    int pickles = 0;
    int notRead = 0;
    if (scan)
        for (const auto &p : scan->pickles) {
            ++pickles;
            notRead += !p.torchReads;
        }
    QString heading = tr("<b>Security</b> — %1 in %2; nothing from the file is executed here.")
                          .arg(countNoun(static_cast<std::uint64_t>(total), "global", "globals"),
                               countNoun(static_cast<std::uint64_t>(pickles), "pickle", "pickles"));
    if (notRead > 0)
        heading += tr(" %1 of them torch.load does not read (scanned all the same).")
                       .arg(countNoun(static_cast<std::uint64_t>(notRead), "pickle", "pickles"));
    // Today's default: torch.load(weights_only=True) since torch 2.6.
    if (scan && scan->container == "dcp") {
        heading += QStringLiteral("<br>")
                   + tr("dcp.load has no weights-only mode: %1").arg(QString::fromStdString(scan->weightsOnlyReason).toHtmlEscaped());
        if (scan->deferredRecords > 0)
            heading += QStringLiteral("<br>")
                       + tr("%1 not read yet: dcp.load reads them with torch.load(weights_only=True), so they do not "
                            "change the verdict; they are read when their values are shown, and "
                            "<tt>ckpt-inspect scan</tt> reads them all.")
                             .arg(countNoun(scan->deferredRecords, "tensor record", "tensor records"));
    }
    else if (scan)
        heading += QStringLiteral("<br>")
                   + (scan->weightsOnlyAccepted
                          ? tr("torch's default load (weights_only=True) accepts this file.")
                          : tr("torch's default load (weights_only=True) refuses it: %1")
                                .arg(QString::fromStdString(scan->weightsOnlyReason).toHtmlEscaped()));
    m_heading->setText(heading);
    m_banner->clearButtons();
    const format::ScanVerdict verdict = checkpoint ? checkpoint->scanVerdict() : format::ScanVerdict::Unknown;
    if (verdict == format::ScanVerdict::Dangerous) {
        QStringList names = m_model->dangerousNames();
        if (names.size() > 6)
            names = names.mid(0, 6) << QStringLiteral("…");
        QString what = names.isEmpty() ? QString() : tr("It calls %1. ").arg(names.join(QStringLiteral(", ")).toHtmlEscaped());
        if (scan)
            for (const auto &p : scan->pickles)
                if (!p.findings.empty()) {
                    what += QString::fromStdString(p.findings.front().text).toHtmlEscaped() + QStringLiteral(". ");
                    break;
                }
        const QString member = checkpoint ? QString::fromStdString(checkpoint->dangerousMember()).toHtmlEscaped() : QString();
        m_banner->showMessage(MessageBar::Type::Error,
                              (member.isEmpty()
                                   ? tr("<b>Dangerous: this file would run code when loaded with torch.load(weights_only=False).</b><br>")
                                   : tr("<b>Dangerous: %1 in this folder would run code when loaded with "
                                        "torch.load(weights_only=False).</b><br>").arg(member))
                                  + tr("%1Do not load it that way; browsing it here is safe.").arg(what));
    } else if (verdict == format::ScanVerdict::Unknown) {
        m_banner->showMessage(MessageBar::Type::Warning,
                              tr("<b>Verdict unknown:</b> %1. What could not be read may run code.")
                                  .arg(QString::fromStdString(scan ? scan->verdictReason : std::string("the file was not scanned"))
                                           .toHtmlEscaped()));
    } else if (opaque > 0) {
        m_banner->showMessage(MessageBar::Type::Warning,
                              tr("%1 outside torch's usual set: torch.load would import them "
                                 "(shown here as opaque objects); none of them is called.")
                                  .arg(countNoun(static_cast<std::uint64_t>(opaque), "class", "classes")));
    } else if (checkpoint && !checkpoint->globals.empty()) {
        m_banner->showMessage(MessageBar::Type::Positive,
                              tr("Safe: every pickle was read to its end; only tensor builders and plain value types."));
    } else if (checkpoint && (checkpoint->format == format::ContainerFormat::Safetensors
                              || checkpoint->format == format::ContainerFormat::Index)) {
        m_banner->showMessage(MessageBar::Type::Positive,
                              tr("safetensors holds no pickle: nothing in this format can run code."));
    } else if (checkpoint && checkpoint->error) {
        m_banner->showMessage(MessageBar::Type::Warning, tr("The file could not be read: no verdict."));
    } else {
        m_banner->showMessage(MessageBar::Type::Info, tr("The file references no Python globals."));
    }
    m_view->setVisible(total > 0);
    m_view->resizeColumnToContents(GlobalsModel::ClassColumn);
}

} // namespace ckpt
