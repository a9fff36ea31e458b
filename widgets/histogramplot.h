// SPDX-License-Identifier: MIT
#pragma once

#include <QWidget>

#include <cstdint>
#include <vector>

class QCustomPlot;
class QCPBars;
class QCPItemText;
class QCPItemRect;
class QCPItemStraightLine;
class QMouseEvent;

namespace ckpt {

/// A histogram (equal-width bins over [lo, hi]) drawn with QCustomPlot: linear or log counts,
/// hover read-out of the bin under the mouse, export to PNG, PDF, SVG and CSV. Receives plain
/// data, never a model.
class HistogramPlot : public QWidget
{
    Q_OBJECT
public:
    explicit HistogramPlot(QWidget *parent = nullptr);
    ~HistogramPlot() override;

    void setHistogram(double lo, double hi, const std::vector<std::uint64_t> &counts);
    /// Shows no bars, only `message` in the middle of the plot.
    void clear(const QString &message = {});
    void setLogScale(bool log);
    bool logScale() const { return m_log; }
    void setValueLabel(const QString &label);

    int binCount() const { return static_cast<int>(m_counts.size()); }
    double lo() const { return m_lo; }
    double hi() const { return m_hi; }
    const std::vector<std::uint64_t> &counts() const { return m_counts; }
    /// The bar heights as currently plotted (bins with a zero count are left out in log mode).
    std::vector<std::pair<double, double>> plottedBars() const;
    /// Bin at value `x`, -1 outside; bin `i` covers [lo + i·w, lo + (i+1)·w), the last one closed.
    int binAt(double x) const;
    /// "[-0.0312, -0.0273): 1,234 values" for bin `bin`.
    QString binText(int bin) const;
    /// The read-out shown for the bin under the mouse (empty when none).
    QString readout() const { return m_readout; }
    /// Shows the read-out of `bin` as if hovered (tests, keyboard).
    void showReadout(int bin);

    bool savePng(const QString &fileName, int width = 0, int height = 0);
    bool savePdf(const QString &fileName, int width = 0, int height = 0);
    bool saveSvg(const QString &fileName, int width = 0, int height = 0);
    bool saveCsv(const QString &fileName) const;

signals:
    void readoutChanged(const QString &text);

private:
    void onMouseMove(QMouseEvent *event);
    void rebuild();

    QCustomPlot *m_plot;
    QCPBars *m_bars = nullptr;
    QCPItemRect *m_highlight = nullptr;
    QCPItemText *m_readoutItem = nullptr;
    QCPItemText *m_messageItem = nullptr;
    QCPItemStraightLine *m_zeroLine = nullptr;
    double m_lo = 0;
    double m_hi = 1;
    std::vector<std::uint64_t> m_counts;
    bool m_log = false;
    int m_hoverBin = -1;
    QString m_readout;
};

} // namespace ckpt
