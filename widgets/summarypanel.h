// SPDX-License-Identifier: MIT
#pragma once

#include "checkpointtree.h"
#include "trainingoverview.h"

#include <QWidget>

class QLabel;
class QPlainTextEdit;
class QSplitter;
class QTabWidget;

namespace ckpt {

class MessageBar;
class SecurityPanel;
class TrainingSummaryPanel;

/// The file's root: format, counts, bytes, load time, warnings, metadata and the error if
/// reading stopped early; the security panel below. For training checkpoints a Training tab
/// (shown first) summarises epoch, step, loss, optimizers, schedulers, scalers and arguments.
class SummaryPanel : public QWidget
{
    Q_OBJECT
public:
    explicit SummaryPanel(QWidget *parent = nullptr);

    void setTree(std::shared_ptr<const CheckpointTree> tree, qint64 loadMs);
    /// The training summary (nullptr or empty: the Training tab is hidden).
    void setTraining(std::shared_ptr<const TrainingOverview> overview);
    TrainingSummaryPanel *training() const { return m_training; }
    QTabWidget *tabs() const { return m_tabs; }
    SecurityPanel *security() const { return m_security; }
    QLabel *facts() const { return m_facts; }
    QPlainTextEdit *warnings() const { return m_warnings; }
    MessageBar *errorBar() const { return m_error; }
    QSplitter *splitter() const { return m_splitter; }

private:
    QLabel *m_title;
    QLabel *m_path;
    MessageBar *m_error;
    QLabel *m_facts;
    QLabel *m_warningsLabel;
    QPlainTextEdit *m_warnings;
    QSplitter *m_splitter;
    SecurityPanel *m_security;
    QTabWidget *m_tabs;
    QWidget *m_fileTab;
    TrainingSummaryPanel *m_training;
};

} // namespace ckpt
