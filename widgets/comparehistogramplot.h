// SPDX-License-Identifier: MIT
#pragma once

#include <QWidget>

#include <cstdint>
#include <vector>

class QCustomPlot;
class QCPBars;
class QCPGraph;
class QCPItemText;
class QMouseEvent;

namespace ckpt {

/// Two histograms over the same equal-width bins, overlaid (QCustomPlot): A as filled bars, B
/// as a step outline on top, a legend naming both, linear or log counts, and a hover read-out
/// of both counts of the bin under the mouse. Receives plain data, never a model.
class CompareHistogramPlot : public QWidget
{
    Q_OBJECT
public:
    explicit CompareHistogramPlot(QWidget *parent = nullptr);
    ~CompareHistogramPlot() override;

    /// Either side may be empty (a tensor only in one file): then only the other is drawn.
    void setHistograms(double lo, double hi, const std::vector<std::uint64_t> &countsA,
                       const std::vector<std::uint64_t> &countsB);
    void clear(const QString &message = {});
    void setNames(const QString &a, const QString &b);
    void setLogScale(bool log);
    bool logScale() const { return m_log; }

    double lo() const { return m_lo; }
    double hi() const { return m_hi; }
    const std::vector<std::uint64_t> &countsA() const { return m_a; }
    const std::vector<std::uint64_t> &countsB() const { return m_b; }
    int binCount() const;
    /// The legend's texts (tests).
    QStringList legendTexts() const;
    /// "bin 3: [-0.1, -0.05)\nA 12 · B 15" for `bin`; shown for the bin under the mouse.
    QString binText(int bin) const;
    QString readout() const { return m_readout; }
    void showReadout(int bin);
    bool savePng(const QString &fileName, int width = 0, int height = 0);

signals:
    void readoutChanged(const QString &text);

private:
    void rebuild();
    void onMouseMove(QMouseEvent *event);

    QCustomPlot *m_plot;
    QCPBars *m_barsA;
    QCPGraph *m_stepB;
    QCPItemText *m_message;
    QCPItemText *m_readoutItem;
    double m_lo = 0, m_hi = 1;
    std::vector<std::uint64_t> m_a, m_b;
    QString m_nameA = QStringLiteral("A"), m_nameB = QStringLiteral("B");
    bool m_log = false;
    int m_hoverBin = -1;
    QString m_readout;
};

} // namespace ckpt
