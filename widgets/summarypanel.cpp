// SPDX-License-Identifier: MIT
#include "summarypanel.h"
#include "themesupport.h"

#include "displayformat.h"
#include "messagebar.h"
#include "securitypanel.h"
#include "trainingsummarypanel.h"

#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QSplitter>
#include <QTabBar>
#include <QTabWidget>
#include <QVBoxLayout>

namespace ckpt {

SummaryPanel::SummaryPanel(QWidget *parent)
    : QWidget(parent)
    , m_title(new QLabel(this))
    , m_path(new QLabel(this))
    , m_error(new MessageBar(this))
    , m_facts(new QLabel(this))
    , m_warningsLabel(new QLabel(this))
    , m_warnings(new QPlainTextEdit(this))
    , m_splitter(new QSplitter(Qt::Vertical, this))
    , m_security(new SecurityPanel(this))
    , m_tabs(new QTabWidget(this))
    , m_fileTab(new QWidget(this))
    , m_training(new TrainingSummaryPanel(this))
{
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(8, 6, 8, 6);
    layout->setSpacing(6);
    QFont titleFont = m_title->font();
    titleFont.setPointSizeF(titleFont.pointSizeF() * 1.3);
    titleFont.setBold(true);
    m_title->setFont(titleFont);
    m_path->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_path->setWordWrap(true);
    useMutedText(m_path);
    layout->addWidget(m_title);
    layout->addWidget(m_path);
    layout->addWidget(m_error);

    auto *top = new QWidget(this);
    auto *topLayout = new QHBoxLayout(top);
    topLayout->setContentsMargins(0, 0, 0, 0);
    topLayout->setSpacing(16);
    m_facts->setTextFormat(Qt::RichText);
    m_facts->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_facts->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    m_facts->setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Preferred);
    topLayout->addWidget(m_facts, 0);
    auto *warnBox = new QWidget(top);
    auto *warnLayout = new QVBoxLayout(warnBox);
    warnLayout->setContentsMargins(0, 0, 0, 0);
    warnLayout->addWidget(m_warningsLabel);
    m_warnings->setReadOnly(true);
    m_warnings->setLineWrapMode(QPlainTextEdit::WidgetWidth);
    warnLayout->addWidget(m_warnings, 1);
    topLayout->addWidget(warnBox, 1);

    m_splitter->addWidget(top);
    m_splitter->addWidget(m_security);
    m_splitter->setStretchFactor(0, 0);
    m_splitter->setStretchFactor(1, 1);
    m_warnings->setMinimumHeight(60);
    m_splitter->setChildrenCollapsible(false);
    auto *fileLayout = new QVBoxLayout(m_fileTab);
    fileLayout->setContentsMargins(0, 4, 0, 0);
    fileLayout->addWidget(m_splitter, 1);
    m_tabs->setDocumentMode(true);
    m_tabs->addTab(m_fileTab, tr("File && Security"));
    layout->addWidget(m_tabs, 1);
    m_training->hide();
    m_tabs->tabBar()->hide();
}

void SummaryPanel::setTraining(std::shared_ptr<const TrainingOverview> overview)
{
    const bool show = overview && !overview->sections.empty();
    m_training->setOverview(show ? std::move(overview) : nullptr);
    const int at = m_tabs->indexOf(m_training);
    if (show && at < 0) {
        m_tabs->insertTab(0, m_training, tr("Training"));
        m_tabs->setCurrentIndex(0);
    } else if (!show && at >= 0) {
        m_tabs->removeTab(at);
        m_training->hide();
    }
    m_tabs->tabBar()->setVisible(m_tabs->count() > 1);
}

void SummaryPanel::setTree(std::shared_ptr<const CheckpointTree> tree, qint64 loadMs)
{
    if (!tree) {
        m_title->clear();
        m_path->clear();
        m_error->hide();
        m_facts->clear();
        m_warnings->clear();
        m_security->setCheckpoint(nullptr);
        setTraining(nullptr);
        return;
    }
    const auto &cp = *tree->data();
    const QString file = qs(cp.file);
    m_title->setText(QFileInfo(file).fileName());
    m_path->setText(QFileInfo(file).absoluteFilePath());
    if (cp.error) {
        const bool nothing = cp.root == nullptr && cp.tensors.empty();
        m_error->showMessage(MessageBar::Type::Error,
                             tr("<b>Reading stopped early:</b> %1<br>%2")
                                 .arg(qs(cp.error->text()).toHtmlEscaped(),
                                      nothing ? tr("Nothing could be read before the problem.")
                                              : tr("Everything read before that point is shown in the tree.")));
    } else {
        m_error->hide();
    }

    std::uint64_t fileSize = 0;
    for (const auto &f : cp.files)
        if (f)
            fileSize += f->size();
    std::size_t presentStorages = 0;
    for (const auto &s : cp.storages)
        presentStorages += s.present;
    auto row = [](const QString &k, const QString &v) {
        return QStringLiteral("<tr><td style='color:%3; padding-right:10px'>%1</td><td>%2</td></tr>").arg(k, v, toneColor(Tone::Muted).name());
    };
    QString html = QStringLiteral("<table cellspacing='0' cellpadding='2'>");
    html += row(tr("Format"), QStringLiteral("<b>%1</b>").arg(qs(format::formatName(cp.format))));
    if (!cp.version.empty())
        html += row(tr("Version"), qs(cp.version).toHtmlEscaped());
    if (!cp.archivePrefix.empty())
        html += row(tr("Archive prefix"), qs(cp.archivePrefix).toHtmlEscaped());
    html += row(tr("File size"), QStringLiteral("%1 (%2 bytes)").arg(humanBytes(fileSize), groupedCount(fileSize)));
    if (cp.files.size() > 1)
        html += row(tr("Shards"), groupedCount(cp.files.size() - 1));
    // Counted as torch counts them (CheckpointTotals, the numbers of `ckpt-inspect ls`).
    const CheckpointTotals &t = tree->totals();
    html += row(tr("Tensors"), QStringLiteral("<b>%1</b>").arg(groupedCount(t.tensors))
                                   + (t.paths != t.tensors ? tr(" at %1 paths").arg(groupedCount(t.paths)) : QString()));
    html += row(tr("Elements"), QStringLiteral("<b>%1</b> (%2)").arg(groupedCount(t.elements), shortCount(t.elements)));
    if (t.hasModel) {
        html += row(tr("Model"), t.modelPath.empty() ? tr("the root") : qs(t.modelPath).toHtmlEscaped());
        html += row(tr("Parameters"), tr("<b>%1</b> (%2) in %3 tensors")
                                          .arg(groupedCount(t.parameters.elements), shortCount(t.parameters.elements),
                                               groupedCount(t.parameters.tensors)));
        html += row(tr("Buffers"), tr("%1 elements in %2 tensors")
                                       .arg(groupedCount(t.buffers.elements), groupedCount(t.buffers.tensors)));
        if (t.other.tensors)
            html += row(tr("Other tensors"), tr("%1 elements in %2 tensors (optimizer state, ...)")
                                                 .arg(groupedCount(t.other.elements), groupedCount(t.other.tensors)));
    }
    html += row(tr("Tensor bytes"), QStringLiteral("<b>%1</b>").arg(humanBytes(t.bytes)));
    html += row(tr("Storages"), tr("%1 (%2 in the file, %3 with data)")
                                    .arg(groupedCount(t.storages), groupedCount(cp.storages.size()),
                                         groupedCount(presentStorages)));
    html += row(tr("Python globals"), groupedCount(cp.globals.size()));
    html += row(tr("Tree nodes"), groupedCount(tree->nodeCount()) + (tree->truncated() ? tr(" (truncated)") : QString()));
    if (loadMs >= 0)
        html += row(tr("Load time"), durationText(loadMs));
    html += QStringLiteral("</table>");
    m_facts->setText(html);

    QStringList lines;
    for (const auto &w : cp.warnings)
        lines << QStringLiteral("• ") + qs(w.text());
    if (!cp.metadata.empty()) {
        if (!lines.isEmpty())
            lines << QString();
        lines << tr("Metadata:");
        for (const auto &[k, v] : cp.metadata)
            lines << QStringLiteral("  %1 = %2").arg(qs(k), elideMiddle(qs(v), 400));
    }
    m_warningsLabel->setText(cp.warnings.empty() ? tr("<b>Warnings</b>: none")
                                                   : tr("<b>Warnings</b> (%1)").arg(cp.warnings.size()));
    // One account of what was read (issue 16): after an error the file was not read to its end.
    if (lines.isEmpty())
        lines << (cp.error ? tr("Reading stopped at the error above: what follows it in the file was not read.")
                           : tr("Nothing was skipped: every value was read."));
    m_warnings->setPlainText(lines.join(QLatin1Char('\n')));
    m_security->setCheckpoint(tree->data());
}

} // namespace ckpt
