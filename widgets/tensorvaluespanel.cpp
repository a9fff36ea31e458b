// SPDX-License-Identifier: MIT
#include "tensorvaluespanel.h"
#include "themesupport.h"

#include "displayformat.h"
#include "heatmapplot.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QSpinBox>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>

namespace ckpt {

TensorValuesPanel::TensorValuesPanel(QWidget *parent)
    : QWidget(parent)
    , m_model(new TensorSliceModel(this))
    , m_job(new SliceHeatmapJob(this))
    , m_rowAxis(new QComboBox(this))
    , m_colAxis(new QComboBox(this))
    , m_indexBox(new QWidget(this))
    , m_indexLayout(new QHBoxLayout(m_indexBox))
    , m_info(new QLabel(this))
    , m_message(new QLabel(this))
    , m_splitter(new QSplitter(Qt::Horizontal, this))
    , m_table(new QTableView(this))
    , m_heatmap(new HeatmapPlot(this))
{
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 4, 0, 0);
    layout->setSpacing(4);

    auto *controls = new QHBoxLayout;
    controls->setSpacing(6);
    auto *rowsLabel = new QLabel(tr("R&ows:"), this);
    rowsLabel->setBuddy(m_rowAxis);
    auto *colsLabel = new QLabel(tr("Co&lumns:"), this);
    colsLabel->setBuddy(m_colAxis);
    m_rowAxis->setToolTip(tr("The axis laid out as table rows"));
    m_colAxis->setToolTip(tr("The axis laid out as table columns"));
    m_indexLayout->setContentsMargins(0, 0, 0, 0);
    m_indexLayout->setSpacing(6);
    controls->addWidget(rowsLabel);
    controls->addWidget(m_rowAxis);
    controls->addSpacing(4);
    controls->addWidget(colsLabel);
    controls->addWidget(m_colAxis);
    controls->addSpacing(10);
    controls->addWidget(m_indexBox);
    controls->addStretch(1);
    layout->addLayout(controls);

    m_info->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_info->setWordWrap(true);
    layout->addWidget(m_info);
    m_message->setAlignment(Qt::AlignCenter);
    m_message->setWordWrap(true);
    useMutedText(m_message, QStringLiteral("font-size: 11pt;"));
    m_message->hide();
    layout->addWidget(m_message, 1);

    m_table->setModel(m_model);
    m_table->setWordWrap(false);
    m_table->setAlternatingRowColors(true);
    m_table->setSelectionMode(QAbstractItemView::ContiguousSelection);
    m_table->horizontalHeader()->setDefaultSectionSize(
        m_table->fontMetrics().horizontalAdvance(QStringLiteral("-0.000123456789")) + 12);
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);
    m_table->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
    m_table->verticalHeader()->setDefaultSectionSize(m_table->fontMetrics().height() + 6);
    m_table->verticalHeader()->setDefaultAlignment(Qt::AlignRight | Qt::AlignVCenter);
    m_splitter->addWidget(m_table);
    m_splitter->addWidget(m_heatmap);
    m_splitter->setStretchFactor(0, 1);
    m_splitter->setStretchFactor(1, 1);
    m_splitter->setSizes({500, 500});
    m_splitter->setChildrenCollapsible(false);
    layout->addWidget(m_splitter, 1);

    connect(m_rowAxis, &QComboBox::currentIndexChanged, this, [this] { applyControls(); });
    connect(m_colAxis, &QComboBox::currentIndexChanged, this, [this] { applyControls(); });
    connect(m_job, &SliceHeatmapJob::canceled, this, [this] { emit busyChanged(false); });
    connect(m_job, &SliceHeatmapJob::finished, this, [this](const HeatmapGrid &grid) {
        if (grid.tensor == m_tensor) {
            m_heatmap->setGrid(grid);
            updateInfo();
        }
        emit busyChanged(false);
    });
    clear();
}

TensorValuesPanel::~TensorValuesPanel() = default;

QSpinBox *TensorValuesPanel::indexBox(int axis) const
{
    if (axis < 0 || static_cast<std::size_t>(axis) >= m_indices.size())
        return nullptr;
    QSpinBox *box = m_indices[static_cast<std::size_t>(axis)];
    return box && box->isEnabled() ? box : nullptr;
}

void TensorValuesPanel::clear()
{
    setTensor(nullptr, -1);
}

void TensorValuesPanel::setTensor(CheckpointPtr checkpoint, int tensor)
{
    m_job->cancel();
    m_data = std::move(checkpoint);
    m_tensor = tensor;
    m_model->setTensor(m_data, tensor);
    rebuildControls();
    const QString error = m_model->error();
    const bool ok = error.isEmpty() && tensor >= 0;
    m_message->setVisible(!ok);
    m_splitter->setVisible(ok);
    m_message->setText(tensor < 0 ? tr("Select a tensor to see its values") : error);
    m_heatmap->clear(ok ? tr("Computing…") : QString());
    m_heatmapStale = true;
    updateInfo();
    if (ok && m_active)
        refreshHeatmap();
}

void TensorValuesPanel::rebuildControls()
{
    m_updating = true;
    const auto &shape = m_model->shape();
    const int rank = static_cast<int>(shape.size());
    m_rowAxis->clear();
    m_colAxis->clear();
    for (int a = 0; a < rank; ++a) {
        const QString text = tr("axis %1 (%2)").arg(a).arg(shape[static_cast<std::size_t>(a)]);
        m_rowAxis->addItem(text, a);
        m_colAxis->addItem(text, a);
    }
    if (rank == 1)
        m_colAxis->addItem(tr("—"), -1);
    m_rowAxis->setEnabled(rank >= 2);
    m_colAxis->setEnabled(rank >= 2);
    for (QSpinBox *b : m_indices)
        delete b;
    m_indices.clear();
    QLayoutItem *item;
    while ((item = m_indexLayout->takeAt(0)) != nullptr) {
        delete item->widget();
        delete item;
    }
    if (rank > 2) {
        auto *label = new QLabel(tr("Index:"), m_indexBox);
        m_indexLayout->addWidget(label);
    }
    for (int a = 0; a < rank; ++a) {
        auto *box = new QSpinBox(m_indexBox);
        box->setRange(0, static_cast<int>(std::max<std::int64_t>(0, std::min<std::int64_t>(shape[static_cast<std::size_t>(a)] - 1, INT_MAX))));
        box->setPrefix(tr("axis %1 = ").arg(a));
        box->setSuffix(QStringLiteral(" / %1").arg(shape[static_cast<std::size_t>(a)]));
        box->setKeyboardTracking(false);
        box->setToolTip(tr("Index along axis %1").arg(a));
        connect(box, &QSpinBox::valueChanged, this, [this] { applyControls(); });
        m_indexLayout->addWidget(box);
        m_indices.push_back(box);
    }
    m_updating = false;
    syncControls();
}

void TensorValuesPanel::syncControls()
{
    m_updating = true;
    const SliceSpec &s = m_model->slice();
    m_rowAxis->setCurrentIndex(m_rowAxis->findData(s.rowAxis));
    m_colAxis->setCurrentIndex(m_colAxis->findData(s.colAxis));
    for (std::size_t a = 0; a < m_indices.size(); ++a) {
        QSpinBox *box = m_indices[a];
        const bool free = static_cast<int>(a) != s.rowAxis && static_cast<int>(a) != s.colAxis;
        box->setVisible(free);
        box->setEnabled(free);
        if (a < s.index.size())
            box->setValue(static_cast<int>(s.index[a]));
    }
    m_updating = false;
}

void TensorValuesPanel::applyControls()
{
    if (m_updating)
        return;
    SliceSpec s = m_model->slice();
    const int row = m_rowAxis->currentData().isValid() ? m_rowAxis->currentData().toInt() : s.rowAxis;
    const int col = m_colAxis->currentData().isValid() ? m_colAxis->currentData().toInt() : s.colAxis;
    if (row == col && row >= 0) {
        // Picking the other axis swaps the two instead of being refused.
        if (row != s.rowAxis) {
            s.colAxis = s.rowAxis;
            s.rowAxis = row;
        } else {
            s.rowAxis = s.colAxis;
            s.colAxis = col;
        }
    } else {
        s.rowAxis = row;
        s.colAxis = col;
    }
    for (std::size_t a = 0; a < m_indices.size() && a < s.index.size(); ++a)
        s.index[a] = m_indices[a]->value();
    setSlice(s);
}

void TensorValuesPanel::setSlice(const SliceSpec &spec)
{
    const SliceSpec before = m_model->slice();
    m_model->setSlice(spec);
    syncControls();
    if (m_model->slice() == before)
        return;
    m_heatmapStale = true;
    updateInfo();
    if (m_active)
        refreshHeatmap();
}

void TensorValuesPanel::setActive(bool active)
{
    m_active = active;
    if (active && m_heatmapStale && m_tensor >= 0 && m_model->error().isEmpty())
        refreshHeatmap();
}

void TensorValuesPanel::cancelWork()
{
    m_job->cancel();
    m_heatmapStale = true;
}

bool TensorValuesPanel::isBusy() const
{
    return m_job->isRunning();
}

void TensorValuesPanel::refreshHeatmap()
{
    m_heatmapStale = false;
    m_job->start(m_data, m_tensor, m_model->slice());
    emit busyChanged(true);
}

void TensorValuesPanel::updateInfo()
{
    const auto &shape = m_model->shape();
    if (m_tensor < 0 || !m_model->error().isEmpty()) {
        m_info->clear();
        m_info->hide();
        return;
    }
    m_info->show();
    const SliceSpec &s = m_model->slice();
    QStringList idx;
    for (std::size_t a = 0; a < shape.size(); ++a) {
        if (static_cast<int>(a) == s.rowAxis || static_cast<int>(a) == s.colAxis)
            idx << QStringLiteral(":");
        else
            idx << QString::number(s.index[a]);
    }
    QString text;
    if (shape.empty()) {
        text = tr("A 0-d tensor: one value.");
    } else {
        text = tr("Slice <b>[%1]</b> of shape %2: %3 rows × %4 columns")
                   .arg(idx.join(QStringLiteral(", ")), shapeText(shape),
                        groupedCount(static_cast<std::uint64_t>(m_model->rowCount())),
                        groupedCount(static_cast<std::uint64_t>(m_model->columnCount())));
        if (s.rowAxis >= 0 && s.colAxis < 0)
            text = tr("Slice <b>[%1]</b> of shape %2: %3 values, one per row")
                       .arg(idx.join(QStringLiteral(", ")), shapeText(shape),
                            groupedCount(static_cast<std::uint64_t>(m_model->rowCount())));
    }
    if (m_model->truncated())
        text += tr(" (only the first %1 per axis are listed)").arg(groupedCount(TensorSliceModel::kMaxExtent));
    const HeatmapGrid &g = m_heatmap->grid();
    if (g.rows > 0 && (g.rowStep > 1 || g.colStep > 1)) {
        text += tr(". Each heat-map cell covers %1 × %2 values and shows the one of largest magnitude%3")
                    .arg(groupedCount(static_cast<std::uint64_t>(g.rowStep)), groupedCount(static_cast<std::uint64_t>(g.colStep)),
                         g.sampled ? tr(" among a regular sample of them (the slice has more than %1 values)")
                                         .arg(groupedCount(SliceHeatmapJob::kExhaustiveElements))
                                   : tr(": no outlier is left out"));
    }
    if (g.rows > 0 && (g.nanCount > 0 || g.infCount > 0))
        text += tr(". <span style='color:%1'>%2 NaN and %3 ±Inf</span> (NaN drawn magenta, ±Inf at the ends of the scale)")
                    .arg(palette().color(QPalette::Link).name(), groupedCount(static_cast<std::uint64_t>(g.nanCount)),
                         groupedCount(static_cast<std::uint64_t>(g.infCount)));
    if (g.rows > 0)
        text += QLatin1Char('.');
    m_info->setText(text);
}

} // namespace ckpt
