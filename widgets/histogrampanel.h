// SPDX-License-Identifier: MIT
#pragma once

#include "tensorstatsjob.h"

#include <QWidget>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QSpinBox;
class QTimer;
class QToolButton;

namespace ckpt {

class HistogramPlot;

/// A HistogramPlot with its controls: bin count, linear/log counts, range (auto, symmetric,
/// custom), export, and a progress bar with Cancel while the owner computes.
class HistogramPanel : public QWidget
{
    Q_OBJECT
public:
    explicit HistogramPanel(QWidget *parent = nullptr);

    HistogramPlot *plot() const { return m_plot; }
    int bins() const;
    void setBins(int bins);
    HistogramRange rangeMode() const;
    void setRangeMode(HistogramRange mode);
    double customLo() const;
    double customHi() const;
    void setCustomRange(double lo, double hi);
    /// Fills a request's bins/range fields from the controls.
    void applyTo(StatsRequest &request) const;

    void setBusy(bool busy);
    void setProgress(int permille);
    bool isBusy() const { return m_busy; }
    /// Base name suggested in the export dialogs.
    void setExportName(const QString &name) { m_exportName = name; }

signals:
    /// Bins or range changed (debounced): the owner recomputes.
    void requestChanged();
    void cancelRequested();

private:
    void exportAs(const QString &suffix);

    HistogramPlot *m_plot;
    QSpinBox *m_bins;
    QCheckBox *m_log;
    QComboBox *m_range;
    QLineEdit *m_lo;
    QLineEdit *m_hi;
    QToolButton *m_export;
    QProgressBar *m_progress;
    QToolButton *m_cancel;
    QTimer *m_debounce;
    QString m_exportName = QStringLiteral("histogram");
    bool m_busy = false;
};

} // namespace ckpt
